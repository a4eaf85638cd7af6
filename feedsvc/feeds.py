"""Feeds: which feeds exist (all, each channel, each category) and which articles each shows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .articles import Article
from .config import Channel, Config
from .index import Index

Kind = Literal["all", "channel", "category"]
FORMAT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}


@dataclass(frozen=True)
class FeedSpec:
    kind: Kind
    slug: str
    title: str
    description: str
    limit: int
    channel: Channel | None = None
    category: str | None = None  # the category's name as written

    @property
    def base_path(self) -> str:
        """URL path without the format extension, e.g. ``/categories/zaker``."""
        return f"/categories/{self.slug}" if self.kind == "category" else f"/feeds/{self.slug}"

    def path(self, fmt: str) -> str:
        return f"{self.base_path}.{fmt}"


def auto_slug(name: str) -> str:
    """Pinyin for CJK, ASCII transliteration for the rest; a hash when nothing is left."""
    from pypinyin import lazy_pinyin  # 150 ms to import: only when a new category appears
    from slugify import slugify

    slug = slugify(" ".join(lazy_pinyin(name)), max_length=80, word_boundary=True)
    return slug or "c-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def assign_slugs(names: Sequence[str], fixed: dict[str, str], existing: dict[str, str]) -> dict[str, str]:
    """New slugs for names that have none yet; a slug once given is never given to another name."""
    taken = set(fixed.values()) | set(existing.values())
    assigned = {}
    for name in sorted(set(names) - set(fixed) - set(existing)):
        base = auto_slug(name)
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        assigned[name] = slug
    return assigned


def category_slugs(index: Index, config: Config) -> dict[str, str]:
    """Slug of every category: ``category_slugs`` first, then ones remembered in the index."""
    names = [name for name, _ in index.names("category")]
    existing = index.slugs()
    new = assign_slugs(names, config.category_slugs, existing)
    if new:
        index.add_slugs(new)
    return {name: config.category_slugs.get(name) or existing.get(name) or new[name] for name in names}


def feed_specs(index: Index, config: Config) -> list[FeedSpec]:
    """Every feed, in the order the index page and OPML list them."""
    site, limit = config.site, config.feeds.limit
    specs = [FeedSpec("all", "all", site.title, site.description, limit)]
    for ch in config.channels:
        specs.append(FeedSpec("channel", ch.slug, ch.title, ch.description or ch.title, ch.limit or limit, channel=ch))
    if config.feeds.categories:
        for name, slug in sorted(category_slugs(index, config).items(), key=lambda kv: kv[1]):
            specs.append(FeedSpec("category", slug, name, f"{site.title}: {name}", limit, category=name))
    return specs


def _names_clause(kind: str, names: Sequence[str], negate: bool = False) -> tuple[str, list[str]]:
    marks = ",".join("?" * len(names))
    sql = (f" AND {'NOT ' if negate else ''}EXISTS (SELECT 1 FROM article_names n WHERE n.path = a.path"
           f" AND n.kind = ? AND n.name IN ({marks}))")
    return sql, [kind, *names]


def _where(spec: FeedSpec) -> tuple[str, list[str]]:
    if spec.kind == "category":
        return _names_clause("category", [spec.category or ""])
    where, params = "", []
    ch = spec.channel
    if ch is None:
        return where, params
    for kind, names, negate in (("category", ch.categories, False), ("category", ch.exclude_categories, True),
                                ("tag", ch.tags, False)):
        if names:
            sql, args = _names_clause(kind, names, negate)
            where, params = where + sql, params + args
    if ch.authors:
        where += f" AND a.author IN ({','.join('?' * len(ch.authors))})"
        params += list(ch.authors)
    return where, params


@dataclass(frozen=True)
class Selection:
    paths: tuple[str, ...]
    signature: str  # changes exactly when an item is added, removed or edited


def select(index: Index, spec: FeedSpec, limit: int | None = None) -> Selection:
    """The newest articles of a feed, as file paths plus a digest of what they hold."""
    limit = spec.limit if limit is None else min(limit, spec.limit)
    where, params = _where(spec)
    pattern = re.compile(spec.channel.match) if spec.channel and spec.channel.match else None
    paths, digests = [], []
    for path, digest, title, summary in index.live_rows("a.path, a.digest, a.title, a.summary", where, params):
        if pattern and not pattern.search(f"{title}\n{summary}"):
            continue
        paths.append(path)
        digests.append(digest)
        if len(paths) >= limit:
            break
    signature = hashlib.sha1("\n".join(digests).encode()).hexdigest()
    return Selection(tuple(paths), signature)


def items(index: Index, selection: Selection) -> list[Article]:
    return index.articles_at(selection.paths)
