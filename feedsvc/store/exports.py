"""The export manifest: what each export folder holds, by the signature it was written from."""

from __future__ import annotations

from collections.abc import Iterable

from feedsvc.store.db import _below, _chunks
from feedsvc.store.state import State


class Exports(State):
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

    def save_export_manifest(self, out: str, old: dict[str, str], manifest: dict[str, str], state: str) -> None:
        """What an export into ``out`` wrote (only the rows that changed since ``old``, the
        manifest it started from), and the index state it was made from."""
        with self.transaction():
            self.db.executemany("DELETE FROM exports WHERE out = ? AND path = ?", [(out, p) for p in old.keys() - manifest])
            self.db.executemany("INSERT OR REPLACE INTO exports (out, path, signature) VALUES (?, ?, ?)",
                                [(out, p, s) for p, s in manifest.items() if old.get(p) != s])
            self.set_meta(f"export:{out}", state)
