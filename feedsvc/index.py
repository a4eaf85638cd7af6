"""Index: the SQLite store of files and parsed articles that every feed is selected from.

One row per file (its stat, the digest of its bytes, its last error) and one per article that
parsed (the last good version). ``live`` marks the article that feeds show for an id: not a
draft, and the newest file when two files claim the same id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .articles import Article
from .files import replace_file

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, relpath TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    digest TEXT, error TEXT, warnings TEXT NOT NULL DEFAULT '[]', missing_since REAL
);
CREATE TABLE IF NOT EXISTS articles (
    path TEXT PRIMARY KEY, id TEXT NOT NULL, relpath TEXT NOT NULL, title TEXT NOT NULL,
    published TEXT NOT NULL, updated TEXT NOT NULL, author TEXT NOT NULL, categories TEXT NOT NULL,
    tags TEXT NOT NULL, image TEXT NOT NULL, summary TEXT NOT NULL, content TEXT NOT NULL,
    link TEXT NOT NULL, draft INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL,
    live INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS articles_by_id ON articles (id, mtime_ns);
CREATE INDEX IF NOT EXISTS articles_live ON articles (live, published DESC, id);
CREATE TABLE IF NOT EXISTS article_names (
    path TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (kind, name, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS names_by_path ON article_names (path);
CREATE TABLE IF NOT EXISTS slugs (name TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS exports (
    out TEXT NOT NULL, path TEXT NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (out, path)
) WITHOUT ROWID;
"""
ARTICLE_COLUMNS = "id, relpath, title, published, updated, author, categories, tags, image, summary, content, link, draft"
_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"  # fixed width, so text order is time order


@dataclass(frozen=True)
class KnownFile:
    size: int
    mtime_ns: int
    digest: str | None
    missing_since: float | None


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fatal: bool  # an error (the file is not, or no longer, published as it is) or a warning


def _row_to_article(row: Sequence) -> Article:
    return Article(
        id=row[0], relpath=row[1], title=row[2],
        published=datetime.strptime(row[3], _TIME), updated=datetime.strptime(row[4], _TIME),
        author=row[5], categories=tuple(json.loads(row[6])), tags=tuple(json.loads(row[7])),
        image=row[8], summary=row[9], content=row[10], link=row[11], draft=bool(row[12]),
    )


def generation_file(state_dir: Path) -> Path:
    """Rewritten (new inode) after every scan that changed the index: readers stat it."""
    return state_dir / "generation"


class Index:
    def __init__(self, db: sqlite3.Connection, state_dir: Path) -> None:
        self.db = db
        self.state_dir = state_dir

    @classmethod
    def open(cls, state_dir: Path) -> Index:
        state_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(state_dir / "index.sqlite3", timeout=30, isolation_level=None, check_same_thread=False)
        db.executescript(SCHEMA)
        db.execute("PRAGMA synchronous = NORMAL")
        return cls(db, state_dir)

    def publish_generation(self) -> None:
        """Tell readers in other processes that the index moved (after the commit)."""
        replace_file(generation_file(self.state_dir), str(self.generation).encode("ascii"))

    def close(self) -> None:
        self.db.close()

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Bumped by every scan that changed what a feed could show."""
        return int(self.get_meta("generation", "0"))

    # -- files --------------------------------------------------------------
    def known_files(self) -> dict[str, KnownFile]:
        rows = self.db.execute("SELECT path, size, mtime_ns, digest, missing_since FROM files")
        return {r[0]: KnownFile(r[1], r[2], r[3], r[4]) for r in rows}

    def record_file(self, path: str, relpath: str, size: int, mtime_ns: int, digest: str | None,
                    error: str | None, warnings: Sequence[str]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, relpath, size, mtime_ns, digest, error, warnings, missing_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (path, relpath, size, mtime_ns, digest, error, json.dumps(list(warnings), ensure_ascii=False)),
        )

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        """Same bytes under a new stat (the file was rewritten): remember the stat only."""
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ?, missing_since = NULL WHERE path = ?",
                        (size, mtime_ns, path))

    def mark_missing(self, paths: Sequence[str], since: float | None) -> None:
        self.db.executemany("UPDATE files SET missing_since = ? WHERE path = ?", [(since, p) for p in paths])

    def forget(self, paths: Sequence[str]) -> set[str]:
        """Remove files and their articles; returns the ids they held."""
        ids = set()
        for path in paths:
            row = self.db.execute("SELECT id FROM articles WHERE path = ?", (path,)).fetchone()
            if row:
                ids.add(row[0])
            self.db.execute("DELETE FROM files WHERE path = ?", (path,))
            self.db.execute("DELETE FROM articles WHERE path = ?", (path,))
            self.db.execute("DELETE FROM article_names WHERE path = ?", (path,))
        return ids

    # -- articles -----------------------------------------------------------
    def article_digest(self, path: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT id, digest FROM articles WHERE path = ?", (path,)).fetchone()
        return (row[0], row[1]) if row else None

    def store_article(self, path: str, article: Article, mtime_ns: int, digest: str) -> None:
        values = (
            path, article.id, article.relpath, article.title, article.published.strftime(_TIME),
            article.updated.strftime(_TIME), article.author,
            json.dumps(article.categories, ensure_ascii=False), json.dumps(article.tags, ensure_ascii=False),
            article.image, article.summary, article.content, article.link, int(article.draft), mtime_ns, digest,
        )
        self.db.execute(f"INSERT OR REPLACE INTO articles (path, {ARTICLE_COLUMNS}, mtime_ns, digest)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        self.db.execute("DELETE FROM article_names WHERE path = ?", (path,))
        names = [(path, "category", n) for n in article.categories] + [(path, "tag", n) for n in article.tags]
        self.db.executemany("INSERT OR IGNORE INTO article_names (path, kind, name) VALUES (?, ?, ?)", names)

    def stored_published(self, path: str) -> datetime | None:
        row = self.db.execute("SELECT published FROM articles WHERE path = ?", (path,)).fetchone()
        return datetime.strptime(row[0], _TIME) if row else None

    def elect(self, ids: set[str]) -> None:
        """For each id, only its newest non-draft file is live."""
        for article_id in ids:
            self.db.execute(
                "UPDATE articles SET live = IFNULL(path = (SELECT path FROM articles WHERE id = ?1 AND draft = 0"
                " ORDER BY mtime_ns DESC, path LIMIT 1), 0) WHERE id = ?1", (article_id,))

    def live_articles(self, where: str = "", params: Sequence = (), limit: int | None = None) -> Iterator[Article]:
        """Live articles, newest first; ``where`` is an extra SQL condition on ``a``."""
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.live = 1 {where} ORDER BY a.published DESC, a.id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.db.execute(sql, tuple(params)):
            yield _row_to_article(row)

    def live_rows(self, columns: str, where: str = "", params: Sequence = ()) -> sqlite3.Cursor:
        """Light rows of live articles, newest first, for selecting before loading whole articles."""
        return self.db.execute(
            f"SELECT {columns} FROM articles a WHERE a.live = 1 {where} ORDER BY a.published DESC, a.id",
            tuple(params))

    def articles_at(self, paths: Sequence[str]) -> list[Article]:
        """Whole articles for the given file paths, in the order given."""
        found = self.articles_by_path(paths)
        return [found[p] for p in paths if p in found]

    def articles_by_path(self, paths: Sequence[str]) -> dict[str, Article]:
        found = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT path, {ARTICLE_COLUMNS} FROM articles WHERE path IN ({marks})", chunk):
                found[row[0]] = _row_to_article(row[1:])
        return found

    def slugs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, slug FROM slugs"))

    def add_slugs(self, assigned: dict[str, str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO slugs (name, slug) VALUES (?, ?)", assigned.items())

    def live_signatures(self) -> Iterator[tuple[str, str, str]]:
        """(path, id, digest) of every live article: what an export needs to know is up to date."""
        yield from self.db.execute("SELECT path, id, digest FROM articles WHERE live = 1 ORDER BY id")

    def export_manifest(self, out: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, signature FROM exports WHERE out = ?", (out,)))

    def save_export_manifest(self, out: str, manifest: dict[str, str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM exports WHERE out = ?", (out,))
            self.db.executemany("INSERT INTO exports (out, path, signature) VALUES (?, ?, ?)",
                                [(out, p, s) for p, s in manifest.items()])

    def article(self, article_id: str) -> Article | None:
        return next(self.live_articles("AND a.id = ?", (article_id,)), None)

    def names(self, kind: str) -> list[tuple[str, int]]:
        """Every category (or tag) of a live article with its article count, by name."""
        rows = self.db.execute(
            "SELECT n.name, COUNT(*) FROM article_names n JOIN articles a ON a.path = n.path"
            " WHERE n.kind = ? AND a.live = 1 GROUP BY n.name ORDER BY n.name", (kind,))
        return [(r[0], r[1]) for r in rows]

    def count_live(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM articles WHERE live = 1").fetchone()[0]

    def problems(self) -> list[Problem]:
        """File errors and warnings, and files that lost an id to a newer file."""
        found = []
        for path, error, warnings in self.db.execute("SELECT path, error, warnings FROM files ORDER BY path"):
            if error:
                found.append(Problem(path, error, True))
            found += [Problem(path, w, False) for w in json.loads(warnings)]
        rows = self.db.execute(
            "SELECT a.path, a.id, w.path FROM articles a JOIN articles w ON w.id = a.id AND w.live = 1"
            " WHERE a.live = 0 AND a.draft = 0 ORDER BY a.path")
        found += [Problem(p, f"duplicate id {i!r}: {w} is newer and is published instead", True) for p, i, w in rows]
        return found
