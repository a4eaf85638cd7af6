"""Index: the SQLite store of files and parsed articles that every feed is selected from.

One row per file (its stat, the digest of its bytes, its last error) and one per article that
parsed (the last good version). ``live`` marks the article that feeds show for an id: not a
draft, and the newest file when two files claim the same id.

Terms are the nodes of the category tree and the tags, each with the slug it was given for
good. ``article_terms`` files an article under every node of its category paths, ancestors
included, and under its tags, with its date: a feed's newest N items are an index range scan.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import quote

from feedsvc.atomic import replace_file
from feedsvc.errors import StoreUnavailable
from feedsvc.model import EPOCH, Article, CategoryPath, FeedKind, FeedQuery, Problem, Selection, Term

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
-- each article's feed entry per format, as an export rendered it for a render fingerprint:
-- spliced into every feed that holds it, by later exports and by the web workers too
CREATE TABLE IF NOT EXISTS entries (
    path TEXT NOT NULL, fmt TEXT NOT NULL, fingerprint TEXT NOT NULL, updated TEXT NOT NULL, rendered BLOB NOT NULL,
    UNIQUE (path, fmt)
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
ARTICLE_COLUMNS = "id, relpath, title, published, updated, author, categories, tags, image, summary, content, link, draft"
_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"  # fixed width, so text order is time order; fromisoformat reads it back


class Stored(NamedTuple):
    id: str
    digest: str  # content_digest: what readers see of the article
    published: str  # as stored: fixed-width text (``_TIME``)


def _row_to_article(row: Sequence) -> Article:
    return Article(
        id=row[0], relpath=row[1], title=row[2],
        published=datetime.fromisoformat(row[3]), updated=datetime.fromisoformat(row[4]),
        author=row[5], categories=tuple(tuple(p) for p in json.loads(row[6])), tags=tuple(json.loads(row[7])),
        image=row[8], summary=row[9], content=row[10], link=row[11], draft=bool(row[12]),
    )


_COVERING = "INDEXED BY articles_covering"
published_here = 0  # generations published by this process: its own web cache looks at once (pagecache)
CHANGES_KEPT = 1000  # generations of the change log kept; an export older than that renders all


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


def selection(rows: Sequence[tuple[str, str, str]]) -> Selection:
    """Articles as (path, digest, date) rows, newest first, with a signature of what they hold."""
    return Selection(tuple(row[0] for row in rows), hashlib.sha1("\n".join(row[1] for row in rows).encode()).hexdigest())


CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
SHORT_READ = 522  # SQLITE_IOERR_SHORT_READ: the file ends before a page it says it has (truncated)


class Corrupt(sqlite3.DatabaseError):
    """An integrity check found the index damaged (SQLite raised nothing yet)."""


def is_corrupt(error: sqlite3.DatabaseError) -> bool:
    """A damaged index (by SQLite's error code, not its message), not a full or read-only disk."""
    code = getattr(error, "sqlite_errorcode", 0)
    return isinstance(error, Corrupt) or code & 0xFF in CORRUPT_CODES or code == SHORT_READ


def open_healed(state_dir: Path, verify: bool = False) -> tuple[Index, str | None]:
    """The index, and None; or, when it is corrupt (at open, or by ``verify``'s integrity
    check), a new empty one after the old was moved aside, and a line saying so."""
    try:
        index = Index.open(state_dir)
        try:
            if verify:
                index.verify()
        except BaseException:
            index.close()
            raise
        return index, None
    except sqlite3.DatabaseError as e:
        if not is_corrupt(e):
            raise
        moved = set_aside(state_dir)
        return Index.open(state_dir), f"the index was corrupt ({e}); moved it to {moved.name} and rebuilding it from the sources"


def set_aside(state_dir: Path) -> Path:
    """Move a corrupt index out of the way (kept for a post-mortem); the next open makes a new
    one, which the next scan fills from the sources."""
    target = state_dir / f"{DB_NAME}.corrupt-{int(time.time())}"
    (state_dir / DB_NAME).rename(target)
    for suffix in ("-wal", "-shm"):
        (state_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
    return target


def _add_term_liveness(db: sqlite3.Connection) -> None:
    """An index made before article_terms had ``live`` gets it, filled from the articles."""
    if not any(column[1] == "live" for column in db.execute("PRAGMA table_info(article_terms)")):
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE article_terms ADD COLUMN live INTEGER NOT NULL DEFAULT 0")
            db.execute("UPDATE article_terms SET live = 1 WHERE path IN (SELECT path FROM articles WHERE live = 1)")
    db.execute("CREATE INDEX IF NOT EXISTS article_terms_live ON article_terms (term, live, published)")


def generation_file(state_dir: Path) -> Path:
    """Rewritten (new inode) after every scan that changed the index: readers stat it."""
    return state_dir / "generation"


class Changes(NamedTuple):
    """What changed since an export: article ids, the category nodes and tags whose feeds could
    show something else, and the oldest date a changed article had or has (None: unknown)."""

    ids: set[str]
    terms: set[int]
    oldest: str | None


class Index:
    def __init__(self, db: sqlite3.Connection, state_dir: Path, readonly: bool = False) -> None:
        self.db = db
        self.state_dir = state_dir
        self.readonly = readonly
        self.term_ids: dict[tuple[str, int, str], int] = {}  # terms are never deleted: safe to remember
        self.dirty_terms: set[int] = set()  # terms whose feeds changed in this batch (see log_changes)
        self.oldest_change: str | None = None  # the oldest date an article changed in this batch had or has

    @classmethod
    def open(cls, state_dir: Path, readonly: bool = False) -> Index:
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
        db.executescript(SCHEMA)
        _add_term_liveness(db)
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
        global published_here
        published_here += 1

    def close(self) -> None:
        self.db.close()

    def verify(self) -> None:
        """SQLite's quick integrity check (every page read once); raises Corrupt with its first finding."""
        found = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":
            raise Corrupt(found)

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    # the digest of the last full walk the files table was left agreeing with (see scan)
    def agreed_walk(self) -> str:
        return self.get_meta("walk")

    def set_agreed_walk(self, digest: str, folders: dict[str, str]) -> None:
        """The files table holds exactly this walk (``folders``: its ``folder_digests``)."""
        self.set_meta("walk", digest)
        self.set_meta("walk_folders", json.dumps(folders))

    def drop_agreed_walk(self) -> None:
        """The files table may differ from any walk so far (a scan is changing it)."""
        self.delete_meta("walk")
        self.delete_meta("walk_folders")

    def agreed_folders(self) -> dict[str, str] | None:
        """The folder digests of the walk the files table agrees with (None: it agrees with none,
        or it was agreed before they were kept)."""
        value = self.get_meta("walk_folders")
        return json.loads(value) if value else None

    @property
    def generation(self) -> int:
        """Bumped by every scan that changed what a feed could show."""
        return int(self.get_meta("generation", "0"))

    # -- files --------------------------------------------------------------
    def file_rows(self) -> tuple[list[tuple[str, int, int]], dict[str, float]]:
        """Every known file as a listing's ``(path, size, mtime_ns)`` row, so that the two
        compare in one step; and when each missing one went missing."""
        rows = self.db.execute("SELECT path, size, mtime_ns FROM files").fetchall()
        return rows, dict(self.db.execute("SELECT path, missing_since FROM files WHERE missing_since IS NOT NULL"))

    def file_rows_in(self, folders: Iterable[str]) -> list[tuple[str, int, int]]:
        """``file_rows`` of the files directly in these folders (a range of the primary key each)."""
        rows = []
        for folder in folders:
            prefix = folder + "/"
            rows += [row for row in self.db.execute("SELECT path, size, mtime_ns FROM files WHERE path > ? AND path < ?",
                                                    _below(prefix)) if "/" not in row[0][len(prefix):]]
        return rows

    def file_digests(self, paths: Sequence[str]) -> dict[str, str]:
        """The digest of the bytes last read from each of these files (unknown ones are left out)."""
        return dict(self._by_paths("SELECT path, digest FROM files WHERE digest IS NOT NULL AND path IN ({})", paths))

    def reread_all(self, fingerprint: str) -> None:
        """The config that articles depend on changed: every file is read again (its stat is
        forgotten, its bytes' digest too)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE files SET size = -1, digest = NULL")
            self.drop_agreed_walk()
            self.set_meta("config", fingerprint)

    def source_problem_paths(self) -> set[str]:
        return {path for path, _ in json.loads(self.get_meta("source_problems", "[]"))}

    def set_source_problems(self, problems: Sequence[tuple[str, str]]) -> None:
        """Sources or folders that could not be listed in the last scan."""
        value = json.dumps([list(p) for p in problems], ensure_ascii=False)
        if self.get_meta("source_problems", "[]") != value:
            self.set_meta("source_problems", value)

    def record_error(self, path: str, relpath: str, size: int, mtime_ns: int, error: str) -> None:
        """A file that cannot be published as it is now: its last good article (and the digest
        of its bytes) stay."""
        self.db.execute(
            "INSERT INTO files (path, relpath, size, mtime_ns, digest, error, warnings, missing_since)"
            " VALUES (?, ?, ?, ?, NULL, ?, '[]', NULL) ON CONFLICT (path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, error = excluded.error, missing_since = NULL",
            (path, relpath, size, mtime_ns, error))

    def record_file(self, path: str, relpath: str, size: int, mtime_ns: int, digest: str | None,
                    error: str | None, warnings: Sequence[str]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, relpath, size, mtime_ns, digest, error, warnings, missing_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (path, relpath, size, mtime_ns, digest, error, json.dumps(list(warnings), ensure_ascii=False)),
        )

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        """Same bytes under a new stat (the file was rewritten): remember the stat only."""
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ?, missing_since = NULL, error = NULL WHERE path = ?",
                        (size, mtime_ns, path))

    def mark_missing(self, paths: Sequence[str], since: float | None) -> None:
        self.db.executemany("UPDATE files SET missing_since = ? WHERE path = ?", [(since, p) for p in paths])

    def forget(self, paths: Sequence[str]) -> set[str]:
        """Remove files and their articles; returns the ids they held."""
        ids = set()
        for path in paths:
            row = self.db.execute("SELECT id, published FROM articles WHERE path = ?", (path,)).fetchone()
            if row:
                ids.add(row[0])
                self._dated(row[1])
            self._terms_change(path)
            self.db.execute("DELETE FROM files WHERE path = ?", (path,))
            self.db.execute("DELETE FROM articles WHERE path = ?", (path,))
            self.db.execute("DELETE FROM article_terms WHERE path = ?", (path,))
            self.db.execute("DELETE FROM entries WHERE path = ?", (path,))
        return ids

    # -- articles -----------------------------------------------------------
    def stored(self, path: str) -> Stored | None:
        """The article a file holds now, as far as a scan asks: its id, digest and date."""
        row = self.db.execute("SELECT id, digest, published FROM articles WHERE path = ?", (path,)).fetchone()
        return Stored(*row) if row else None

    def store_article(self, path: str, article: Article, mtime_ns: int, digest: str, terms: Iterable[int],
                      before: Stored | None) -> None:
        """Store the article and file it under ``terms`` (its category nodes, ancestors included,
        and its tags). ``before``: what the file held (``stored``), to log where it was."""
        values = (
            path, article.id, article.relpath, article.title, article.published.strftime(_TIME),
            article.updated.strftime(_TIME), article.author,
            json.dumps(article.categories, ensure_ascii=False), json.dumps(article.tags, ensure_ascii=False),
            article.image, article.summary, article.content, article.link, int(article.draft), mtime_ns, digest,
        )
        # live as elect() will most likely find it (an id has one file), so that it rewrites
        # no row: SQLite rewrites the whole record, body and all, to change one flag
        live = int(not article.draft)
        if before is not None:
            self._dated(before.published)  # where it was in its feeds
        self._dated(values[4])
        self.db.execute(f"INSERT OR REPLACE INTO articles (path, {ARTICLE_COLUMNS}, mtime_ns, digest, live)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, live))
        self.db.execute("DELETE FROM entries WHERE path = ?", (path,))
        self._terms_change(path)  # the feeds it leaves
        self.dirty_terms.update(terms := list(terms))  # and those it joins
        self.db.execute("DELETE FROM article_terms WHERE path = ?", (path,))
        self.db.executemany("INSERT OR IGNORE INTO article_terms (term, path, published, id, live)"
                            " VALUES (?, ?, ?, ?, ?)", [(term, path, values[4], article.id, live) for term in terms])

    def store_entries(self, path: str, fingerprint: str, updated: datetime, rendered: dict[str, bytes]) -> None:
        """The article's entries, by format, as rendered for ``fingerprint``."""
        self.db.executemany("INSERT OR REPLACE INTO entries (path, fmt, fingerprint, updated, rendered)"
                            " VALUES (?, ?, ?, ?, ?)",
                            [(path, fmt, fingerprint, updated.isoformat(), body) for fmt, body in rendered.items()])

    def entries(self, paths: Sequence[str], fmt: str, fingerprint: str) -> dict[str, tuple[datetime, bytes]]:
        """The stored entries of these articles in ``fmt`` as rendered for ``fingerprint``."""
        rows = self._by_paths("SELECT path, updated, rendered FROM entries WHERE fmt = ? AND fingerprint = ?"
                              " AND path IN ({})", paths, fmt, fingerprint)
        return {path: (datetime.fromisoformat(updated), rendered) for path, updated, rendered in rows}

    def _by_paths(self, sql: str, paths: Sequence[str], *params: object) -> Iterator[tuple]:
        """The rows of ``sql`` (its ``IN ({})`` takes the paths, ``params`` come before them),
        in chunks of paths (see ``_chunks``)."""
        for chunk, marks in _chunks(paths):
            yield from self.db.execute(sql.format(marks), (*params, *chunk))

    def _dated(self, published: str) -> None:
        if self.oldest_change is None or published < self.oldest_change:
            self.oldest_change = published

    def _terms_change(self, path: str) -> None:
        self.dirty_terms.update(r[0] for r in self.db.execute("SELECT term FROM article_terms WHERE path = ?", (path,)))

    def elect(self, ids: set[str]) -> None:
        """For each id, only its newest non-draft file is live. Set-based, a chunk of ids per
        statement: one statement per id was a third of a cold scan's main process."""
        for chunk, marks in _chunks(sorted(ids)):
            # a file that lost (or won) the id leaves (or joins) its feeds
            self.dirty_terms.update(r[0] for r in self.db.execute(
                "SELECT term FROM article_terms WHERE path IN"
                f" (SELECT path FROM articles WHERE id IN ({marks}))", chunk))
            # and from where it was (or is) in them: another file of the id may not have changed
            if oldest := self.db.execute(f"SELECT MIN(published) FROM articles WHERE id IN ({marks})", chunk).fetchone()[0]:
                self._dated(oldest)
            # only the rows whose flag changes are written (see store_article)
            self.db.execute(
                f"UPDATE articles SET live = 1 - live WHERE id IN ({marks}) AND live != IFNULL(path = (SELECT b.path"
                " FROM articles b WHERE b.id = articles.id AND b.draft = 0 ORDER BY b.mtime_ns DESC, b.path LIMIT 1),"
                " 0)", chunk)
            self.db.execute(
                f"UPDATE article_terms SET live = 1 - live WHERE path IN (SELECT path FROM articles WHERE id IN ({marks}))"
                " AND live != (SELECT a.live FROM articles a WHERE a.path = article_terms.path)", chunk)

    def log_changes(self, generation: int, ids: set[str]) -> None:
        """Record what ``generation`` changed: these article ids, the terms marked since the
        last call, and the oldest date those articles had or have now (every feed is the same
        as before up to that date). The log keeps ``CHANGES_KEPT`` generations."""
        self.db.executemany("INSERT INTO changes VALUES (?, 'article', ?)", [(generation, i) for i in sorted(ids)])
        self.db.executemany("INSERT INTO changes VALUES (?, 'term', ?)",
                            [(generation, str(t)) for t in sorted(self.dirty_terms)])
        if self.oldest_change is not None:
            self.db.execute("INSERT INTO changes VALUES (?, 'oldest', ?)", (generation, self.oldest_change))
        self.dirty_terms.clear()
        self.oldest_change = None
        if generation - CHANGES_KEPT > int(self.get_meta("changes_from", "0")):
            self.db.execute("DELETE FROM changes WHERE generation <= ?", (generation - CHANGES_KEPT,))
            self.set_meta("changes_from", str(generation - CHANGES_KEPT))

    def changes_since(self, generation: int) -> Changes | None:
        """What changed after ``generation``; None when the log does not reach back."""
        if generation < int(self.get_meta("changes_from", "0")):
            return None
        ids, terms, oldest, logged, dated = set[str](), set[int](), None, set[int](), set[int]()
        for number, kind, key in self.db.execute("SELECT generation, kind, key FROM changes WHERE generation > ?",
                                                 (generation,)):
            logged.add(number)
            if kind == "article":
                ids.add(key)
            elif kind == "term":
                terms.add(int(key))
            else:
                dated.add(number)
                oldest = key if oldest is None else min(oldest, key)
        # a generation logged without its date (by a version before dates were logged): none to go by
        return Changes(ids, terms, oldest if dated == logged else None)

    def select(self, query: FeedQuery, limit: int, offset: int = 0) -> Selection:
        """The newest ``limit`` live articles that ``query`` selects after skipping the ``offset``
        newest, newest first."""
        return selection(self._matching(query, limit, offset))

    def history(self, query: FeedQuery, limit: int | None = None) -> list[tuple[str, str, str]]:
        """(path, digest, date) of every live article ``query`` selects (or the newest
        ``limit``), newest first: one pass, for cutting a feed's archive pages (``selection`` of
        a slice is ``select`` of that range)."""
        return self._matching(query, limit)

    def count_since(self, query: FeedQuery, since: str) -> int | None:
        """How many live articles ``query`` selects that are dated ``since`` or later (None for
        a regular expression: only the whole history would tell)."""
        if query.match:
            return None
        one_term = self._single_term(query)
        if one_term is not None:
            return self.db.execute("SELECT COUNT(*) FROM article_terms INDEXED BY article_terms_live"
                                   " WHERE term = ? AND live = 1 AND published >= ?", (one_term, since)).fetchone()[0]
        where, params = self._conditions(query)
        return self.db.execute(f"SELECT COUNT(*) FROM articles a INDEXED BY articles_newest"
                               f" WHERE a.live = 1 AND a.published >= ?{where}", [since, *params]).fetchone()[0]

    def count(self, query: FeedQuery) -> tuple[int, datetime]:
        """How many live articles ``query`` selects, and the newest one's date."""
        if query.match:  # a regular expression: only Python can tell
            total, newest = 0, None
            for _, _, published in self._matching(query, None):
                total += 1
                newest = newest or published
        else:
            where, params = self._conditions(query)
            total, newest = self.db.execute(f"SELECT COUNT(*), MAX(a.published) FROM articles a WHERE a.live = 1{where}",
                                            params).fetchone()
        return total, datetime.fromisoformat(newest) if newest else EPOCH

    def _matching(self, query: FeedQuery, limit: int | None, offset: int = 0) -> list[tuple[str, str, str]]:
        """(path, digest, published) of the live articles a query selects, newest first, from
        the ``offset``-th on."""
        one_term = self._single_term(query)
        if one_term is not None:  # a category's or a tag's own feed: a range of one index
            sql = ("SELECT a.path, a.digest, a.published FROM article_terms x"
                   f" JOIN articles a {_COVERING} ON a.path = x.path"
                   " WHERE x.term = ? AND a.live = 1 ORDER BY x.published DESC, x.id LIMIT ? OFFSET ?")
            return self.db.execute(sql, (one_term, -1 if limit is None else limit, offset)).fetchall()
        where, params = self._conditions(query)
        if not query.match:
            # the newest few or the whole history: down articles_newest, which holds what a
            # selection needs in the order it needs (no row read, no sort)
            return self.db.execute("SELECT a.path, a.digest, a.published FROM articles a INDEXED BY articles_newest"
                                   f" WHERE a.live = 1{where} ORDER BY a.published DESC, a.id LIMIT ? OFFSET ?",
                                   [*params, -1 if limit is None else limit, offset]).fetchall()
        pattern = re.compile(query.match)  # a regular expression: only Python can tell
        rows = self.db.execute(f"SELECT a.path, a.digest, a.published, a.title, a.summary FROM articles a"
                               f" WHERE a.live = 1{where} ORDER BY a.published DESC, a.id", params)
        found: list[tuple[str, str, str]] = []
        skipped = 0
        for path, digest, published, title, summary in rows:
            if not pattern.search(f"{title}\n{summary}"):
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append((path, digest, published))
            if limit is not None and len(found) >= limit:
                break
        rows.close()
        return found

    def _single_term(self, query: FeedQuery) -> int | None:
        if query == FeedQuery(category_nodes=query.category_nodes) and len(query.category_nodes) == 1:
            return query.category_nodes[0]
        if query == FeedQuery(tags=query.tags) and len(query.tags) == 1:
            return next(iter(self._tag_ids(query.tags)), -1)
        return None

    def _conditions(self, query: FeedQuery) -> tuple[str, list[object]]:
        """SQL conditions on ``articles a``; values are always bound, never spliced."""
        where, params = "", list[object]()
        conditions: list[tuple[str, list[int]]] = []
        if query.category_nodes or query.category_names or query.category_paths:
            conditions.append(("", [*query.category_nodes, *self._node_ids(query.category_names, query.category_paths)]))
        if query.exclude_names or query.exclude_paths:
            conditions.append(("NOT ", self._node_ids(query.exclude_names, query.exclude_paths)))
        if query.tags:
            conditions.append(("", self._tag_ids(query.tags)))
        for negation, terms in conditions:
            where += (f" AND {negation}EXISTS (SELECT 1 FROM article_terms x"
                      f" WHERE x.path = a.path AND x.term IN ({','.join('?' * len(terms))}))")
            params += terms
        if query.authors:
            where += f" AND a.author IN ({','.join('?' * len(query.authors))})"
            params += query.authors
        return where, params

    def _node_ids(self, names: Sequence[str], paths: Sequence[CategoryPath]) -> list[int]:
        """Category nodes by name (anywhere in the tree) or by path from the root."""
        found = []
        if names:
            marks = ",".join("?" * len(names))
            found += [r[0] for r in self.db.execute(
                f"SELECT id FROM terms WHERE kind = 'category' AND name IN ({marks})", tuple(names))]
        for path in paths:
            node: int | None = 0
            for name in path:
                row = self.db.execute("SELECT id FROM terms WHERE kind = 'category' AND parent = ? AND name = ?",
                                      (node, name)).fetchone()
                node = row[0] if row else None
                if node is None:
                    break
            if node:
                found.append(node)
        return found

    def _tag_ids(self, tags: Sequence[str]) -> list[int]:
        marks = ",".join("?" * len(tags))
        return [r[0] for r in self.db.execute(f"SELECT id FROM terms WHERE kind = 'tag' AND name IN ({marks})",
                                              tuple(tags))]

    def articles_at(self, paths: Sequence[str]) -> list[Article]:
        """Whole articles for the given file paths, in the order given."""
        found = self.articles_by_path(paths)
        return [found[p] for p in paths if p in found]

    def articles_by_path(self, paths: Sequence[str]) -> dict[str, Article]:
        rows = self._by_paths(f"SELECT path, {ARTICLE_COLUMNS} FROM articles WHERE path IN ({{}})", paths)
        return {row[0]: _row_to_article(row[1:]) for row in rows}

    # -- terms: category nodes and tags (written by the scanner only) -------------
    def term(self, kind: str, parent: int, name: str, new_slug: Callable[[str, set[str]], str]) -> int:
        """The id of a category node (or tag) under ``parent``, made with ``new_slug(name, slugs
        of its siblings)`` the first time it is seen."""
        key = (kind, parent, name)
        if key not in self.term_ids:
            row = self.db.execute("SELECT id FROM terms WHERE kind = ? AND parent = ? AND name = ?", key).fetchone()
            if row is None:
                taken = {r[0] for r in self.db.execute("SELECT slug FROM terms WHERE kind = ? AND parent = ?",
                                                       (kind, parent))}
                row = (self.db.execute("INSERT INTO terms (kind, parent, name, slug) VALUES (?, ?, ?, ?)",
                                       (*key, new_slug(name, taken))).lastrowid,)
            self.term_ids[key] = row[0]
        return self.term_ids[key]

    def rename_slugs(self, kind: str, wanted: dict[str, str]) -> list[str]:
        """Give terms named in ``wanted`` that slug where no sibling has it; returns the names
        whose slug is taken by a sibling (they keep their own)."""
        blocked = []
        marks = ",".join("?" * len(wanted))
        rows = self.db.execute(f"SELECT id, parent, name, slug FROM terms WHERE kind = ? AND name IN ({marks})",
                               (kind, *wanted)).fetchall()
        for term_id, parent, name, slug in rows:
            if slug == wanted[name]:
                continue
            clash = self.db.execute("SELECT 1 FROM terms WHERE kind = ? AND parent = ? AND slug = ?",
                                    (kind, parent, wanted[name])).fetchone()
            if clash:
                blocked.append(name)
            else:
                self.db.execute("UPDATE terms SET slug = ? WHERE id = ?", (wanted[name], term_id))
        return blocked

    def terms(self) -> dict[str, list[Term]]:
        """Every category node and tag holding a live article, with its count and newest date, by kind."""
        stats = self._term_stats()
        found: dict[str, list[Term]] = {"category": [], "tag": []}
        for kind, term, parent, name, slug in self.db.execute("SELECT kind, id, parent, name, slug FROM terms ORDER BY id"):
            if term in stats:
                total, newest = stats[term]
                found.setdefault(kind, []).append(Term(term, parent, name, slug, total, datetime.fromisoformat(newest)))
        return found

    def _term_stats(self) -> dict[int, tuple[int, str]]:
        """(live articles, newest date) by term: the stored counts, with those of the terms
        changed since they were stored counted again (and stored, unless read-only)."""
        generation, as_of = self.generation, int(self.get_meta("term_stats", "-1"))
        if as_of == generation:
            return self._stored_term_stats()
        changes = self.changes_since(as_of) if as_of >= 0 else None
        if changes is None:  # nothing stored to go by: every term is counted
            stale, kept = None, {}
        else:
            stale = sorted(changes.terms)
            kept = {term: value for term, value in self._stored_term_stats().items() if term not in changes.terms}
        counted = {term: (total, newest) for term, total, newest in self._count_terms(stale)}
        if not self.readonly:
            with self.db:
                self.db.execute("BEGIN")
                if stale is None:
                    self.db.execute("DELETE FROM term_stats")
                else:
                    for chunk, marks in _chunks(stale):
                        self.db.execute(f"DELETE FROM term_stats WHERE term IN ({marks})", chunk)
                self.db.executemany("INSERT INTO term_stats VALUES (?, ?, ?)",
                                    [(term, total, newest) for term, (total, newest) in counted.items()])
                self.set_meta("term_stats", str(generation))
        return kept | counted

    def _stored_term_stats(self) -> dict[int, tuple[int, str]]:
        return {term: (total, newest) for term, total, newest in self.db.execute("SELECT term, total, newest FROM term_stats")}

    def _count_terms(self, terms: Sequence[int] | None) -> list[tuple[int, int, str]]:
        """(term, live articles, newest date) of these terms (None: of every term)."""
        sql = ("SELECT term, COUNT(*), MAX(published) FROM article_terms INDEXED BY article_terms_live"
               " WHERE live = 1{} GROUP BY term")
        if terms is None:
            return self.db.execute(sql.format("")).fetchall()
        return [row for chunk, marks in _chunks(terms) for row in self.db.execute(
            sql.format(f" AND term IN ({marks})"), chunk)]

    def live_signatures(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        """(path, id, digest) of every live article (or those of these ids): what an export
        needs to know is up to date."""
        if ids is None:
            yield from self.db.execute(f"SELECT path, id, digest FROM articles {_COVERING} WHERE live = 1 ORDER BY id")
            return
        for article_id in sorted(ids):
            # by id: SQLite would rather walk all of articles_newest, which holds every column asked for
            yield from self.db.execute("SELECT path, id, digest FROM articles INDEXED BY articles_by_id"
                                       " WHERE live = 1 AND id = ?", (article_id,))

    def export_manifest(self, out: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, signature FROM exports WHERE out = ?", (out,)))

    def export_rows(self, out: str, paths: Iterable[str], folders: Iterable[str]) -> dict[str, str]:
        """The manifest rows of these files and of every file below these folders (each ends
        in "/"): what an export after a few changes looks at, a key range each."""
        found: dict[str, str] = {}
        for chunk, marks in _chunks(sorted(set(paths))):
            found.update(self.db.execute(f"SELECT path, signature FROM exports WHERE out = ? AND path IN ({marks})",
                                         (out, *chunk)))
        for folder in folders:
            found.update(self.db.execute("SELECT path, signature FROM exports WHERE out = ? AND path > ? AND path < ?",
                                         (out, *_below(folder))))
        return found

    def term_slugs(self, ids: Iterable[int]) -> dict[int, tuple[FeedKind, tuple[str, ...]]]:
        """(kind, slugs from the root) of these category nodes and tags, whether they still
        hold a live article or not."""
        terms = {i: (kind, parent, slug) for i, kind, parent, slug in self.db.execute(
            "SELECT id, kind, parent, slug FROM terms")}
        found = {}
        for term in ids:
            if term in terms:
                slugs, node = [], term
                while node:  # 0: the root
                    _, node, slug = terms[node]
                    slugs.append(slug)
                found[term] = (terms[term][0], tuple(reversed(slugs)))
        return found

    def save_export_manifest(self, out: str, old: dict[str, str], manifest: dict[str, str], state: str) -> None:
        """What an export into ``out`` wrote (only the rows that changed since ``old``, the
        manifest it started from), and the index state it was made from."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM exports WHERE out = ? AND path = ?", [(out, p) for p in old.keys() - manifest])
            self.db.executemany("INSERT OR REPLACE INTO exports (out, path, signature) VALUES (?, ?, ?)",
                                [(out, p, s) for p, s in manifest.items() if old.get(p) != s])
            self.set_meta(f"export:{out}", state)

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE live = 1 AND id = ?",
                              (article_id,)).fetchone()
        return _row_to_article(row) if row else None

    def newest_update(self) -> datetime:
        """``updated`` of the newest live article (EPOCH when there is none)."""
        row = self.db.execute("SELECT updated FROM articles WHERE live = 1 ORDER BY published DESC, id LIMIT 1")
        found = row.fetchone()
        return datetime.fromisoformat(found[0]) if found else EPOCH

    def count_live(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM articles WHERE live = 1").fetchone()[0]

    def problems(self) -> list[Problem]:
        """Sources that could not be read, file errors and warnings, and files that lost an id
        to a newer file."""
        found = [Problem(path, message, True) for path, message in json.loads(self.get_meta("source_problems", "[]"))]
        for path, error, warnings in self.db.execute(
                "SELECT path, error, warnings FROM files WHERE error IS NOT NULL OR warnings != '[]' ORDER BY path"):
            if error:
                found.append(Problem(path, error, True))
            found += [Problem(path, w, False) for w in json.loads(warnings)]
        rows = self.db.execute(
            "SELECT a.path, a.id, w.path FROM articles a JOIN articles w ON w.id = a.id AND w.live = 1"
            " WHERE a.live = 0 AND a.draft = 0 ORDER BY a.path")
        found += [Problem(p, f"duplicate id {i!r}: {w} is newer and is published instead", True) for p, i, w in rows]
        return found

