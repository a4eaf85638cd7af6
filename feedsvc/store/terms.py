"""Terms: the nodes of the category tree and the tags, each with the slug it was given for good,
and their live counts, kept up to date from the change log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from feedsvc.model import FeedKind, Term
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
            with self.transaction():
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
