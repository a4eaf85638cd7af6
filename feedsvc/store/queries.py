"""Queries: a FeedQuery turned into SQL over the articles and their terms, values always bound."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from feedsvc.model import EPOCH, CategoryPath, FeedQuery, Selection
from feedsvc.store.db import Database

_COVERING = "INDEXED BY articles_covering"


def selection(rows: Sequence[tuple[str, str, str]]) -> Selection:
    """Articles as (path, digest, date) rows, newest first, with a signature of what they hold."""
    return Selection(tuple(row[0] for row in rows), hashlib.sha1("\n".join(row[1] for row in rows).encode()).hexdigest())


class Queries(Database):
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
            return int(self.db.execute("SELECT COUNT(*) FROM article_terms INDEXED BY article_terms_live"
                                   " WHERE term = ? AND live = 1 AND published >= ?", (one_term, since)).fetchone()[0])
        where, params = self._conditions(query)
        return int(self.db.execute(f"SELECT COUNT(*) FROM articles a INDEXED BY articles_newest"
                               f" WHERE a.live = 1 AND a.published >= ?{where}", [since, *params]).fetchone()[0])

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
