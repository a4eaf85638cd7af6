"""The database under the store: its schema, opening it (read-only for web workers), telling a
damaged file from other failures by SQLite's error codes, transactions, and the generation that
tells readers in other processes the index moved."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self, TypeVar
from urllib.parse import quote

from feedsvc.atomic import replace_file
from feedsvc.errors import StoreUnavailable

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
    live INTEGER NOT NULL DEFAULT 0, guid TEXT NOT NULL DEFAULT ''
);
-- the files in error or with warnings, which every build and /healthz report: a handful of rows
CREATE INDEX IF NOT EXISTS files_with_problems ON files (path) WHERE error IS NOT NULL OR warnings != '[]';
CREATE INDEX IF NOT EXISTS articles_by_id ON articles (id, mtime_ns);
-- newest first with what a feed's selection needs: the whole history of ``all`` in order, no sort
DROP INDEX IF EXISTS articles_live;
CREATE INDEX IF NOT EXISTS articles_newest ON articles (live, published DESC, id, path, digest);
-- a feed's articles by path without reading their rows: digest and live sit after the content,
-- which spills to overflow pages that SQLite would walk for every article of every feed
-- (queries that need it name it: with it, SQLite would also pick it where it is slower)
CREATE INDEX IF NOT EXISTS articles_covering ON articles (path, live, digest, published, id);
DROP TABLE IF EXISTS article_names;
DROP TABLE IF EXISTS slugs;
CREATE TABLE IF NOT EXISTS terms (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, parent INTEGER NOT NULL, name TEXT NOT NULL, slug TEXT NOT NULL,
    UNIQUE (kind, parent, name), UNIQUE (kind, parent, slug)
);
-- live: the article's own flag, copied here by elect() so that counting a term's live
-- articles reads one small index, not every article it ever held
CREATE TABLE IF NOT EXISTS article_terms (
    term INTEGER NOT NULL, path TEXT NOT NULL, published TEXT NOT NULL, id TEXT NOT NULL, live INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (term, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_terms_newest ON article_terms (term, published DESC, id);
CREATE INDEX IF NOT EXISTS article_terms_by_path ON article_terms (path);
-- each term's live articles and the newest one's date, as of the generation in meta "term_stats":
-- counted again only for the terms changed since (counting them all read every article_terms row)
CREATE TABLE IF NOT EXISTS term_stats (term INTEGER PRIMARY KEY, total INTEGER NOT NULL, newest TEXT NOT NULL);
-- each article's feed entries, as an export rendered them for a render fingerprint: every
-- format in one compressed row (``parts``: each one's name and length, in order), spliced into
-- every feed that holds the article, by later exports and by the web workers too
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, updated TEXT NOT NULL, parts TEXT NOT NULL,
    rendered BLOB NOT NULL
);
-- what each generation changed (article ids; category nodes and tags whose feeds could show
-- something else), so that an export after a few changes renders just what they touch
CREATE TABLE IF NOT EXISTS changes (generation INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_generation ON changes (generation);
CREATE TABLE IF NOT EXISTS exports (
    out TEXT NOT NULL, path TEXT NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (out, path)
) WITHOUT ROWID;
"""

log = logging.getLogger("feedsvc.index")
DB_NAME = "index.sqlite3"

# any failure to read or write the index: callers catch the store's name for it
StoreFault = sqlite3.DatabaseError


CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
SHORT_READ = 522  # SQLITE_IOERR_SHORT_READ: the file ends before a page it says it has (truncated)


class StoreCorrupt(sqlite3.DatabaseError):
    """An integrity check found the index damaged (SQLite raised nothing yet)."""


def is_corrupt(error: BaseException) -> bool:
    """A damaged index (by SQLite's error code, not its message), not a full or read-only disk."""
    code = getattr(error, "sqlite_errorcode", 0)
    return isinstance(error, StoreCorrupt) or code & 0xFF in CORRUPT_CODES or code == SHORT_READ


def set_aside(state_dir: Path) -> Path:
    """Move a corrupt index out of the way (kept for a post-mortem); the next open makes a new
    one, which the next scan fills from the sources."""
    target = state_dir / f"{DB_NAME}.corrupt-{int(time.time())}"
    (state_dir / DB_NAME).rename(target)
    for suffix in ("-wal", "-shm"):
        (state_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
    return target


def _drop_entries_by_format(db: sqlite3.Connection) -> None:
    """An index made when entries were kept a row per format drops them (the next export
    renders them again, an article's formats in one row)."""
    if any(column[1] == "fmt" for column in db.execute("PRAGMA table_info(entries)")):
        db.execute("DROP TABLE entries")


def _add_term_liveness(db: sqlite3.Connection) -> None:
    """An index made before article_terms had ``live`` gets it, filled from the articles."""
    if not any(column[1] == "live" for column in db.execute("PRAGMA table_info(article_terms)")):
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE article_terms ADD COLUMN live INTEGER NOT NULL DEFAULT 0")
            db.execute("UPDATE article_terms SET live = 1 WHERE path IN (SELECT path FROM articles WHERE live = 1)")
    db.execute("CREATE INDEX IF NOT EXISTS article_terms_live ON article_terms (term, live, published)")


def _add_guid(db: sqlite3.Connection) -> None:
    """An index made before entries could carry a blog's permalink as their id gets the column
    (empty: the article page here; the scan after an upgrade reads every file again)."""
    if not any(column[1] == "guid" for column in db.execute("PRAGMA table_info(articles)")):
        db.execute("ALTER TABLE articles ADD COLUMN guid TEXT NOT NULL DEFAULT ''")


def generation_file(state_dir: Path) -> Path:
    """Rewritten (new inode) after every scan that changed the index: readers stat it."""
    return state_dir / "generation"


class Publications:
    """How many generations this process published: its own web cache looks at once (web.cache)."""
    count = 0


Value = TypeVar("Value", str, int)


def _chunks(values: Sequence[Value], size: int = 500) -> Iterator[tuple[Sequence[Value], str]]:
    """``values`` a chunk at a time, with the ``?, ?, …`` that binds the chunk: SQLite bounds
    the number of variables in one statement."""
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield chunk, ",".join("?" * len(chunk))


def _below(folder: str) -> tuple[str, str]:
    """The key range of every path below ``folder`` (ending in "/"): "0" sorts right after "/"."""
    return folder, folder[:-1] + "0"


class Database:
    """A connection to the index and what every part of the store shares: typed state lives in
    ``meta`` (see ``state``), and writes go through ``transaction``."""

    def __init__(self, db: sqlite3.Connection, state_dir: Path, readonly: bool = False) -> None:
        self.db = db
        self.state_dir = state_dir
        self.readonly = readonly
        self.term_ids: dict[tuple[str, int, str], int] = {}  # terms are never deleted: safe to remember
        self.dirty_terms: set[int] = set()  # terms whose feeds changed in this batch (see log_changes)
        self.oldest_change: str | None = None  # the oldest date an article changed in this batch had or has

    @classmethod
    def open(cls, state_dir: Path, readonly: bool = False) -> Self:
        """The index in ``state_dir``; ``readonly`` (web workers) cannot write, nor create it."""
        if readonly:
            uri = f"file:{quote(str((state_dir / DB_NAME).absolute()))}?mode=ro"
            try:
                db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
                db.execute("SELECT 1 FROM meta LIMIT 1")
            except sqlite3.Error as e:
                raise StoreUnavailable(f"the index in {state_dir} cannot be read: {e}") from e
            return cls(db, state_dir, readonly=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(state_dir / DB_NAME, timeout=30, isolation_level=None, check_same_thread=False)
        _drop_entries_by_format(db)
        db.executescript(SCHEMA)
        _add_term_liveness(db)
        _add_guid(db)
        db.execute("PRAGMA synchronous = NORMAL")
        index = cls(db, state_dir)
        if not index.get_meta("generation"):
            index.set_meta("generation", str(index._published_generation()))
        if not index.get_meta("changes_from"):  # the change log starts now
            index.set_meta("changes_from", str(index.generation))
        return index

    def _published_generation(self) -> int:
        """Where a new index's generations start: past the one readers last saw, and past the
        clock in milliseconds, so that an index rebuilt after its state directory was deleted
        (generation file and all) never reuses a number a web worker has pages cached under."""
        try:
            published = int(generation_file(self.state_dir).read_text(encoding="ascii"))
        except (OSError, ValueError):
            published = 0
        return max(published, time.time_ns() // 1_000_000)

    def publish_generation(self) -> None:
        """Tell readers in other processes that the index moved (after the commit). A write
        that fails (a full disk) is logged and tried again after the next scan."""
        path, current = generation_file(self.state_dir), str(self.generation).encode("ascii")
        try:
            if path.read_bytes() == current:
                return
        except OSError:
            pass
        try:
            replace_file(path, current)
        except OSError as e:
            log.error("cannot write %s: %s; web workers serve the previous feeds until it can be written", path,
                      e.strerror or e)
        Publications.count += 1

    def close(self) -> None:
        self.db.close()

    def verify(self) -> None:
        """SQLite's quick integrity check (every page read once); raises Corrupt with its first finding."""
        found = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":
            raise StoreCorrupt(found)

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    @property
    def generation(self) -> int:
        """Bumped by every scan that changed what a feed could show."""
        return int(self.get_meta("generation", "0"))

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises.
        ``immediate`` takes the write lock at once (a scanner's batch)."""
        self.db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def begin(self) -> None:
        """Start a write transaction that ``commit`` ends (a scan's batches span calls)."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        """Undo an open transaction, if there is one."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
