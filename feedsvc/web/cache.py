"""Page cache: rendered bytes per URL, valid for one index generation, in each web worker.

The scanner rewrites ``state_dir/generation`` after every scan that changed something, so
checking freshness costs a stat, not a query; a cached page is answered by a small WSGI fast
path before Flask's routing. Web workers open the index read-only: they never write.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedsvc.config import Config
from feedsvc.errors import StoreUnavailable
from feedsvc.feeds.catalog import feed_specs, render_fingerprint
from feedsvc.feeds.tree import FeedTree
from feedsvc.model import FeedSpec, Page, etag_of
from feedsvc.store import DB_NAME, Publications, Store, StoreFault, generation_file
from feedsvc.urls import feed_base
from feedsvc.web.http import Cached, Environ, respond, status_line, wants_html

log = logging.getLogger("feedsvc.web")
MAX_ENTRIES = 2048
# filtered views (URL filters): any number of distinct queries, so a bucket of their own that
# never evicts a plain feed, bounded in count and in bytes
MAX_VIEWS = 256
MAX_VIEW_BYTES = 32 * 2**20
GENERATION_CHECK = 0.005  # seconds


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return -1


def page_key(path: str, variant: str = "") -> str:
    """The cache key of a URL path; ``variant`` names a query or a representation (HTML of a feed)."""
    return f"{path}?{variant}"


@dataclass
class Cache:
    """Per-process cache of rendered pages, each valid for one index generation; the least
    recently used go past ``MAX_ENTRIES`` (article pages of a large mirror would not all fit)."""

    config: Config
    entries: OrderedDict[str, Cached] = field(default_factory=OrderedDict)
    views: OrderedDict[str, Cached] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    spec_memo: tuple[int, dict[str, FeedSpec]] | None = None
    tree_memo: tuple[int, FeedTree] | None = None
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (generation, error): /healthz
    token: tuple[int, int] | None = None
    token_generation: int = -1
    fingerprint: str = ""  # what rendered bytes depend on besides the articles (stored entries are by it)
    checked: float = 0.0  # time.monotonic() of the last look at the generation file
    seen: int = 0  # Publications.count then

    def __post_init__(self) -> None:
        self.fingerprint = render_fingerprint(self.config)

    def index(self) -> Store:
        """SQLite connections are per thread; each opens once (read-only) and stays while the
        index file is the same (a corrupt index is replaced by the scanner)."""
        inode = _inode(self.config.state_dir / DB_NAME)
        if getattr(self.local, "index", None) is None or self.local.inode != inode:
            if getattr(self.local, "index", None) is not None:
                self.local.index.close()
                self.local.index = None
            self.local.index = Store.open(self.config.state_dir, readonly=True)
            self.local.inode = inode
        index: Store = self.local.index
        return index

    def generation(self) -> int:
        """The index generation; a stat of the generation file tells whether it moved, at most
        every ``GENERATION_CHECK`` seconds (a feed poll costs less than that stat otherwise;
        the pages carry a max-age of minutes, so a few milliseconds late is no staleness). A
        scan in this very process is seen at once."""
        now = time.monotonic()
        if self.token is not None and now - self.checked < GENERATION_CHECK and Publications.count == self.seen:
            return self.token_generation
        self.checked, self.seen = now, Publications.count
        try:
            st = os.stat(generation_file(self.config.state_dir))
            token = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            return self.index().generation
        if token != self.token:
            self.token_generation, self.token = self.index().generation, token
        return self.token_generation

    def peek(self, key: str) -> Cached | None:
        """The cached page if it is still current, else None."""
        cached = self.entries.get(key)
        if cached is None or cached.generation != self.generation():
            return None
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
        return cached

    def get(self, key: str, build: Callable[[Store], Page | None], vary: str = "Accept-Encoding") -> Cached | None:
        """The current page for ``key``, rendered by ``build`` only when the index moved."""
        if found := self.peek(key):
            return found
        return self._render(self.entries, key, build, vary)

    def view(self, key: str, build: Callable[[Store], Page | None], vary: str) -> Cached | None:
        """A filtered view: like ``get``, in the views' own bounded bucket (never the fast path's)."""
        cached = self.views.get(key)
        if cached is not None and cached.generation == self.generation():
            with self.lock:
                if key in self.views:
                    self.views.move_to_end(key)
            return cached
        return self._render(self.views, key, build, vary)

    def _render(self, bucket: OrderedDict[str, Cached], key: str, build: Callable[[Store], Page | None],
                vary: str) -> Cached | None:
        generation = self.generation()
        cached = bucket.get(key)
        try:
            page = build(self.index())
        except StoreFault as e:  # corrupt or gone: the scanner rebuilds it
            raise StoreUnavailable(f"the index cannot be read: {e}") from e
        except StoreUnavailable:
            raise
        except Exception as e:
            log.exception("cannot render %s", key)
            self.failures[key] = (generation, f"{type(e).__name__}: {e}")
            raise
        self.failures.pop(key, None)
        if page is None:
            return None
        etag = etag_of(page.body)
        if cached and cached.etag == etag:
            cached.generation = generation  # re-rendered to the same bytes: keep the gzip too
            return cached
        fresh = Cached(generation, page, etag, vary)
        with self.lock:
            bucket[key] = fresh
            if bucket is self.views:
                while len(bucket) > MAX_VIEWS or (len(bucket) > 1 and _bytes(bucket) > MAX_VIEW_BYTES):
                    bucket.popitem(last=False)
            while len(bucket) > MAX_ENTRIES:
                bucket.popitem(last=False)
        return fresh

    def render_failures(self) -> dict[str, str]:
        """Pages that failed to render from the current index, in this worker."""
        generation = self.generation()
        return {key.rstrip("?"): error for key, (seen, error) in self.failures.items() if seen == generation}

    def tree(self) -> FeedTree:
        """The feeds as the feed pages look them up, remade when the index changes."""
        generation = self.generation()
        if self.tree_memo is None or self.tree_memo[0] != generation:
            self.tree_memo = (generation, FeedTree(list(self.specs().values())))
        return self.tree_memo[1]

    def specs(self) -> dict[str, FeedSpec]:
        """Every feed by URL path without extension, recomputed when the index changes."""
        generation = self.generation()
        memo = self.spec_memo
        if memo is None or memo[0] != generation:
            memo = self.spec_memo = (generation, {feed_base(s): s for s in feed_specs(self.index(), self.config)})
        return memo[1]


def _bytes(bucket: OrderedDict[str, Cached]) -> int:
    return sum(len(cached.page.body) for cached in bucket.values())


Observer = Callable[[Environ, str, list[tuple[str, str]]], None]  # (environ, status line, headers) of an answer


class FastPath:
    """Answers GET/HEAD of an already rendered page without Flask's routing (feed readers
    poll those all day); everything else goes on to the app. ``observers`` (the counting and
    the polling report) are told of each answer given here directly, not through middleware
    wrapping it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], cache: Cache, max_age: int,
                 observers: tuple[Observer, ...] = ()) -> None:
        self.app, self.cache, self.max_age, self.observers = app, cache, max_age, observers

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
            try:
                cached = self.cache.peek(page_key(environ.get("PATH_INFO", "")))
            except (StoreUnavailable, StoreFault):  # the app answers it: 503, with a body
                cached = None
            if cached is not None and (cached.vary == "Accept-Encoding" or not wants_html(environ)):
                status, headers, body = respond(cached, environ, self.max_age)
                start_response(line := status_line(status), headers)
                for observe in self.observers:
                    observe(environ, line, headers)
                return [b"" if method == "HEAD" else body]
        return self.app(environ, start_response)
