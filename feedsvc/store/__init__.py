"""The store: the SQLite index of files and parsed articles in ``state_dir`` that every feed is
selected from, and the only code that speaks SQL.

One row per file (its stat, the digest of its bytes, its last error) and one per article that
parsed (the last good version). ``live`` marks the article that feeds show for an id: not a
draft, and the newest file when two files claim the same id.

Terms are the nodes of the category tree and the tags, each with the slug it was given for
good. ``article_terms`` files an article under every node of its category paths, ancestors
included, and under its tags, with its date: a feed's newest N items are an index range scan.

Modules: ``db`` (schema, opening, corruption, transactions, generations), ``state`` (typed
state), ``articles`` (writes, election, change log, entries cache), ``files`` (the files table),
``terms`` (category nodes and tags), ``queries`` (FeedQuery to SQL), ``exports`` (manifests).
Web workers open a read-only ``Store``; the scanner opens it writable.
"""

from __future__ import annotations

from pathlib import Path

from feedsvc.store.articles import Changes, Stored
from feedsvc.store.db import DB_NAME, Publications, StoreCorrupt, StoreFault, generation_file, is_corrupt, set_aside
from feedsvc.store.exports import Exports
from feedsvc.store.files import FileTable
from feedsvc.store.queries import Queries, selection
from feedsvc.store.state import LastScan, ScanFailure
from feedsvc.store.terms import Terms

__all__ = ["DB_NAME", "Changes", "LastScan", "Publications", "ScanFailure", "Store", "StoreCorrupt", "StoreFault", "Stored",
           "generation_file", "is_corrupt", "open_healed", "selection", "set_aside"]


class Store(FileTable, Terms, Queries, Exports):
    """The index: files, articles, terms, queries and state, over one connection."""


def open_healed(state_dir: Path, verify: bool = False) -> tuple[Store, str | None]:
    """The index, and None; or, when it is corrupt (at open, or by ``verify``'s integrity
    check), a new empty one after the old was moved aside, and a line saying so."""
    try:
        index = Store.open(state_dir)
        try:
            if verify:
                index.verify()
        except BaseException:
            index.close()
            raise
        return index, None
    except StoreFault as e:
        if not is_corrupt(e):
            raise
        moved = set_aside(state_dir)
        return Store.open(state_dir), f"the index was corrupt ({e}); moved it to {moved.name} and rebuilding it from the sources"
