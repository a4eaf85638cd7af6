"""The naive baseline the benchmark compares against: what a first script would do.

Parse every file with PyYAML, keep every article in memory, build each feed with feedgen,
no cache, no rewriting, no index: every run starts from nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import yaml
from feedgen.feed import FeedGenerator


def _date(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _articles(source: Path) -> list[dict]:
    found = []
    for path in sorted(source.rglob("*.md")):
        _, header, body = path.read_text(encoding="utf-8").split("---\n", 2)
        meta = yaml.safe_load(header)
        meta["body"], meta["date"], meta["path"] = body, _date(meta["date"]), path.stem
        found.append(meta)
    return found


def _feed(name: str, articles: list[dict], out: Path) -> None:
    fg = FeedGenerator()
    fg.id(f"http://example.com/{name}")
    fg.title(name)
    fg.link(href="http://example.com/", rel="alternate")
    fg.description(name)
    for article in sorted(articles, key=lambda a: a["date"], reverse=True)[:20]:
        fe = fg.add_entry()
        fe.id(f"http://example.com/{article['path']}")
        fe.title(str(article["title"]))
        fe.link(href=f"http://example.com/{article['path']}")
        fe.published(article["date"])
        fe.content(article["body"], type="html")
    fg.rss_file(str(out / f"{name}.rss"))
    fg.atom_file(str(out / f"{name}.atom"))


def build(source: Path, out: Path) -> int:
    """Every feed from scratch; returns how many feeds it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    articles = _articles(source)
    by_category: dict[str, list[dict]] = defaultdict(list)
    for article in articles:
        for name in article.get("categories") or []:
            by_category[str(name)].append(article)
    _feed("all", articles, out)
    for n, (_, members) in enumerate(sorted(by_category.items())):
        _feed(f"category-{n}", members, out)
    return len(by_category) + 1
