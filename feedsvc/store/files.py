"""Files in the store: each file's stat, the digest of its bytes, its error and warnings, and
when it went missing; what a scan compares a walk with."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from feedsvc.model import Problem
from feedsvc.store.articles import ArticleTable
from feedsvc.store.db import _below


class FileTable(ArticleTable):
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
        with self.transaction(immediate=True):
            self.db.execute("UPDATE files SET size = -1, digest = NULL")
            self.drop_agreed_walk()
            self.set_meta("config", fingerprint)

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
