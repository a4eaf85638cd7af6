"""Terms: the nodes of the category tree and the tags, each with the slug it was given for good,
and their live counts, kept up to date from the change log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from feedsvc.model import FeedKind, Term, TermRow
from feedsvc.store.articles import ArticleTable
from feedsvc.store.db import _chunks


class Terms(ArticleTable):
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
        if not self.readonly:
            self.refresh_term_stats()
            return self._stored_term_stats()
        stale, as_of = self._stale_terms()
        if as_of == self.generation:
            return self._stored_term_stats()
        recounted = set(stale) if stale is not None else None
        kept = {term: value for term, value in self._stored_term_stats().items()
                if recounted is not None and term not in recounted}
        return kept | {term: (total, newest) for term, total, newest in self._count_terms(stale)}

    def refresh_term_stats(self) -> None:
        """Bring the stored counts up to date, counting only the terms changed since (the
        ``live_*`` readers below read them as stored). Writable stores only."""
        generation = self.generation
        stale, as_of = self._stale_terms()
        if as_of != generation:
            self._store_term_stats(generation, stale, {term: (total, newest) for term, total, newest in self._count_terms(stale)})

    def _stale_terms(self) -> tuple[list[int] | None, int]:
        """The terms changed since the stored counts (None: all of them), and the generation
        those counts are of."""
        as_of = int(self.get_meta("term_stats", "-1"))
        if as_of == self.generation:
            return [], as_of
        changes = self.changes_since(as_of) if as_of >= 0 else None
        return (sorted(changes.terms) if changes is not None else None), as_of

    def _store_term_stats(self, generation: int, stale: list[int] | None, counted: dict[int, tuple[int, str]]) -> None:
        with self.transaction():
            if stale is None:
                self.db.execute("DELETE FROM term_stats")
            else:
                for chunk, marks in _chunks(stale):
                    self.db.execute(f"DELETE FROM term_stats WHERE term IN ({marks})", chunk)
            self.db.executemany("INSERT INTO term_stats VALUES (?, ?, ?)",
                                [(term, total, newest) for term, (total, newest) in counted.items()])
            self.set_meta("term_stats", str(generation))

    # -- one term at a time, as pages ask (counts as stored: see refresh_term_stats) --------

    _LIVE = "SELECT t.id, t.kind, t.parent, t.name, t.slug, s.total, s.newest FROM terms t JOIN term_stats s ON s.term = t.id"

    def live_terms(self, ids: Iterable[int]) -> list[TermRow]:
        """These terms, those that hold a live article."""
        return [row for chunk, marks in _chunks(sorted(set(ids)))
                for row in self.db.execute(f"{self._LIVE} WHERE t.id IN ({marks})", chunk)]

    def live_terms_named(self, kind: str, keys: Sequence[tuple[int, str]]) -> list[TermRow]:
        """The terms at these (parent, name) that hold a live article, in one query per few hundred."""
        found: list[TermRow] = []
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            values = ",".join("(?, ?)" for _ in chunk)
            found += self.db.execute(f"WITH wanted (parent, name) AS (VALUES {values}) {self._LIVE}"
                                     " JOIN wanted ON t.kind = ? AND t.parent = wanted.parent AND t.name = wanted.name",
                                     [*(v for key in chunk for v in key), kind]).fetchall()
        return found

    def live_children(self, parent: int) -> list[TermRow]:
        """The category nodes right below ``parent`` (0: the top of the tree) that hold a live article."""
        return self.db.execute(f"{self._LIVE} WHERE t.kind = 'category' AND t.parent = ?"
                               " ORDER BY t.id", (parent,)).fetchall()

    def largest_tags(self, count: int) -> list[TermRow]:
        """The ``count`` tags holding the most live articles (ties: by name)."""
        return self.db.execute(f"{self._LIVE} WHERE t.kind = 'tag' ORDER BY s.total DESC, t.name LIMIT ?",
                               (count,)).fetchall()

    def count_live_tags(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM ({self._LIVE} WHERE t.kind = 'tag')").fetchone()[0])

    def live_terms_digest(self) -> str:
        """Changes whenever a term starts or stops holding live articles or changes its slug:
        what a list of every feed (the OPML) is made from, besides the config."""
        row = self.db.execute("SELECT group_concat(id || ':' || slug) FROM (SELECT t.id, t.slug FROM terms t"
                              " JOIN term_stats s ON s.term = t.id ORDER BY t.id)").fetchone()
        return hashlib.sha1(str(row[0]).encode()).hexdigest()

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

    def term_slugs(self, ids: Iterable[int]) -> dict[int, tuple[FeedKind, tuple[str, ...]]]:
        """(kind, slugs from the root) of these category nodes and tags, whether they still
        hold a live article or not (read a level at a time: never the whole tree)."""
        asked = list(ids)
        rows: dict[int, tuple[FeedKind, int, str]] = {}
        wanted = set(asked)
        while wanted:
            found = [row for chunk, marks in _chunks(sorted(wanted)) for row in self.db.execute(
                f"SELECT id, kind, parent, slug FROM terms WHERE id IN ({marks})", chunk)]
            rows.update((term, (kind, parent, slug)) for term, kind, parent, slug in found)
            wanted = {parent for _, _, parent, _ in found if parent and parent not in rows}
        paths = {}
        for term in asked:
            if term in rows:
                slugs, node = [], term
                while node:  # 0: the root
                    _, node, slug = rows[node]
                    slugs.append(slug)
                paths[term] = (rows[term][0], tuple(reversed(slugs)))
        return paths
