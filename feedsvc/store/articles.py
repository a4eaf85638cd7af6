"""Articles in the store: writing a parsed article and filing it under its terms, electing the
live file of each id, the change log an export renders from, and the entries cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from feedsvc.model import EPOCH, Article
from feedsvc.store.db import _chunks
from feedsvc.store.state import State

ARTICLE_COLUMNS = ("id, relpath, title, published, updated, author, categories, tags, image, summary, content, link,"
                   " draft, guid")
LISTED_COLUMNS = ARTICLE_COLUMNS.replace(" content,", " '' AS content,")  # a list of articles shows no body
_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"  # fixed width, so text order is time order; fromisoformat reads it back
CHANGES_KEPT = 1000  # generations of the change log kept; an export older than that renders all


# Entries hold each article's content once per format, and the articles their bodies: most of
# the index. zstd keeps them in about 0.37 of their bytes (level 3 inflates faster than level 1
# here); the prefix on the entries' fingerprint keeps entries stored otherwise from being read
# as compressed, and a body stored as text (before) is read as it is.
CODEC = "zstd3:"
_codecs = threading.local()


class _Codec(NamedTuple):
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def _codec() -> _Codec:
    """This thread's (de)compressor: zstandard's objects are not shared between threads."""
    found: _Codec | None = getattr(_codecs, "codec", None)
    if found is None:
        import zstandard  # loaded where entries are stored or read, not by every command

        found = _codecs.codec = _Codec(zstandard.ZstdCompressor(level=3).compress,
                                       zstandard.ZstdDecompressor().decompress)
    return found


class Stored(NamedTuple):
    id: str
    digest: str  # content_digest: what readers see of the article
    published: str  # as stored: fixed-width text (``_TIME``)


class Changes(NamedTuple):
    """What changed since an export: article ids, the category nodes and tags whose feeds could
    show something else, and the oldest date a changed article had or has (None: unknown)."""

    ids: set[str]
    terms: set[int]
    oldest: str | None


def _row_to_article(row: Sequence[Any]) -> Article:
    return Article(
        id=row[0], relpath=row[1], title=row[2],
        published=datetime.fromisoformat(row[3]), updated=datetime.fromisoformat(row[4]),
        author=row[5], categories=tuple(tuple(p) for p in json.loads(row[6])), tags=tuple(json.loads(row[7])),
        image=row[8], summary=row[9], content=_content(row[10]), link=row[11], draft=bool(row[12]), guid=row[13],
    )


def _content(stored: str | bytes) -> str:
    """An article's body as stored: compressed (or, in an index written before, as text)."""
    return stored if isinstance(stored, str) else _codec().decompress(stored).decode("utf-8", "surrogatepass")


def _split(parts: str, joined: bytes) -> dict[str, bytes]:
    """Stored entries by format, from their ``parts`` (``"rss 812,atom 790"``) and their bytes;
    none when the lengths do not add up to the bytes (the row then counts as missing: rendered
    again, never served cut short)."""
    found, start = {}, 0
    try:
        for part in parts.split(","):
            fmt, _, size = part.partition(" ")
            found[fmt] = joined[start:(start := start + int(size))]
    except ValueError:
        return {}
    return found if start == len(joined) else {}


class ArticleTable(State):
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
            article.image, article.summary, _codec().compress(article.content.encode("utf-8", "surrogatepass")),
            article.link, int(article.draft), article.guid, mtime_ns, digest,
        )
        # live as elect() will most likely find it (an id has one file), so that it rewrites
        # no row: SQLite rewrites the whole record, body and all, to change one flag
        live = int(not article.draft)
        if before is not None:
            self._dated(before.published)  # where it was in its feeds
        self._dated(values[4])
        self.db.execute(f"INSERT OR REPLACE INTO articles (path, {ARTICLE_COLUMNS}, mtime_ns, digest, live)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, live))
        self.db.execute("DELETE FROM entries WHERE path = ?", (path,))
        self._terms_change(path)  # the feeds it leaves
        self.dirty_terms.update(terms := list(terms))  # and those it joins
        self.db.execute("DELETE FROM article_terms WHERE path = ?", (path,))
        self.db.executemany("INSERT OR IGNORE INTO article_terms (term, path, published, id, live)"
                            " VALUES (?, ?, ?, ?, ?)", [(term, path, values[4], article.id, live) for term in terms])

    def store_entries(self, path: str, fingerprint: str, updated: datetime, rendered: dict[str, bytes]) -> None:
        """The article's entries, by format, as rendered for ``fingerprint``: one row, compressed
        together (its formats hold the same text, and a document reads them one after another)."""
        parts = ",".join(f"{fmt} {len(body)}" for fmt, body in rendered.items())
        self.db.execute("INSERT OR REPLACE INTO entries (path, fingerprint, updated, parts, rendered)"
                        " VALUES (?, ?, ?, ?, ?)", (path, CODEC + fingerprint, updated.isoformat(), parts,
                                                    _codec().compress(b"".join(rendered.values()))))

    def entries(self, paths: Sequence[str], fingerprint: str) -> dict[str, tuple[datetime, dict[str, bytes]]]:
        """The stored entries of these articles, as rendered for ``fingerprint``, by format."""
        rows = self._by_paths("SELECT path, updated, parts, rendered FROM entries WHERE fingerprint = ?"
                              " AND path IN ({})", paths, CODEC + fingerprint)
        unpack = _codec().decompress
        return {path: (datetime.fromisoformat(updated), _split(parts, unpack(rendered)))
                for path, updated, parts, rendered in rows}

    def _by_paths(self, sql: str, paths: Sequence[str], *params: object) -> Iterator[tuple[Any, ...]]:
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

    def new_generation(self, ids: set[str]) -> None:
        """The batch being committed changed what a feed could show: the next generation, with
        what it changed in the log."""
        generation = self.generation + 1
        self.log_changes(generation, ids)
        self.set_meta("generation", str(generation))

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

    def articles_at(self, paths: Sequence[str], bodies: bool = True) -> list[Article]:
        """Articles for the given file paths, in the order given; without ``bodies``, their
        content is left empty (a list of articles shows none: inflating it would be wasted)."""
        found = self.articles_by_path(paths, bodies)
        return [found[p] for p in paths if p in found]

    def articles_by_path(self, paths: Sequence[str], bodies: bool = True) -> dict[str, Article]:
        columns = ARTICLE_COLUMNS if bodies else LISTED_COLUMNS
        rows = self._by_paths(f"SELECT path, {columns} FROM articles WHERE path IN ({{}})", paths)
        return {row[0]: _row_to_article(row[1:]) for row in rows}

    def dates_and_images(self, paths: Sequence[str]) -> dict[str, tuple[datetime, str]]:
        """Each of these articles' ``updated`` and image: what a feed page needs of an article
        whose item it has already written (a whole row, but its body, took twice as long to
        read and four times as long to make into an Article)."""
        rows = self._by_paths("SELECT path, updated, image FROM articles WHERE path IN ({})", paths)
        return {path: (datetime.fromisoformat(updated), image) for path, updated, image in rows}

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
        return int(self.db.execute("SELECT COUNT(*) FROM articles WHERE live = 1").fetchone()[0])
