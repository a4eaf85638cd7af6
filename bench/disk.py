"""Bytes on disk, per part: a static export and the state beside it, against the articles.

    python bench/disk.py EXPORT STATE_DIR ARTICLES

Export: the article pages, the feeds, the feeds' pages for people, the archive pages (written
as ``.gz`` alone unless ``export.plain_archives``) and the rest (index, OPML, styles), each
with its ``.gz``. State: the index's tables by what they hold (SQLite's ``dbstat``: entries,
articles with their indexes, the rest) and every other file. ``bench/build.py`` prints it for
its cold build.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

FEED_SUFFIXES = (".rss", ".atom", ".json")


def export_parts(out: Path) -> dict[str, int]:
    parts = dict.fromkeys(("article pages", "feeds", "feed pages", "archive pages", "the rest"), 0)
    for folder, _, names in os.walk(out):
        relfolder = os.path.relpath(folder, out)
        for name in names:
            size = os.stat(os.path.join(folder, name)).st_size
            plain = name.removesuffix(".gz")
            if relfolder.split(os.sep)[0] == "articles":
                parts["article pages"] += size
            elif "_archive" in relfolder.split(os.sep):
                parts["archive pages"] += size
            elif plain.endswith(FEED_SUFFIXES):
                parts["feeds"] += size
            elif plain.endswith(".html") and relfolder != ".":
                parts["feed pages"] += size
            else:
                parts["the rest"] += size
    return parts


def state_parts(state: Path) -> dict[str, int]:
    parts = dict.fromkeys(("index: entries", "index: articles", "index: the rest", "other files"), 0)
    index = state / "index.sqlite3"
    if index.is_file():
        db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                articles = name.startswith(("articles", "sqlite_autoindex_articles"))
                part = "entries" if "entries" in name else "articles" if articles else "the rest"
                parts[f"index: {part}"] += size
        finally:
            db.close()
    for path in state.rglob("*"):
        if path.is_file() and path != index:
            parts["other files"] += path.stat().st_size
    return parts


def articles_bytes(source: Path) -> int:
    return sum(p.stat().st_size for p in source.rglob("*") if p.is_file())


def describe(out: Path, state: Path, source: Path) -> str:
    """One line per part, in MB, and the total against the articles' bytes."""
    articles = articles_bytes(source)
    lines, total = [], 0
    for where, parts in (("export", export_parts(out)), ("state", state_parts(state))):
        total += sum(parts.values())
        lines.append(f"  {where} {sum(parts.values()) / 1e6:.0f} MB: "
                     + ", ".join(f"{part} {size / 1e6:.1f}" for part, size in parts.items()))
    return "\n".join([f"bytes on disk: {total / 1e6:.0f} MB = {total / articles:.2f}x the articles' {articles / 1e6:.0f} MB",
                      *lines])


if __name__ == "__main__":
    print(describe(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
