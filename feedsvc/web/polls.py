"""The polling report: which feed readers poll, how often, and whether they send validators.

``RecordPolls`` is WSGI middleware around the whole app (the fast path included). A request for
a feed document adds to a per-client tally under a lock; a thread hands the tallies and the
polls seen to the store's polling log every ``FLUSH_SECONDS``, and ``/healthz?clients`` hands
over its own worker's first. Memory is bounded: at most ``MAX_CLIENTS`` clients and
``MAX_SIGHTINGS`` polls wait for a flush (beyond that, polls still count, without their gap).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from feedsvc.model import FORMAT_TYPES
from feedsvc.ops.metrics import labels_of
from feedsvc.store.polls import MAX_CLIENTS, OTHER, ClientReport, PollLog, Tally

log = logging.getLogger("feedsvc.web")
FLUSH_SECONDS = 5.0
MAX_PENDING = 50_000  # polls noted between two flushes, at most (at most 60 MB, a few MB for real readers)
MAX_FIELD = 512  # characters of a user agent and a path kept for a poll
Poll = tuple[str, str, str, str, bool, bool, float]  # agent, forwarded for, address, path, conditional, 304, time
MAX_SIGHTINGS = 20_000
MAX_NAME = 40
# product tokens of a user agent ("Miniflux/2.0.50", "Tiny Tiny RSS/21.12"); the generic ones
# of browsers' strings are passed over, so Chrome is "Chrome", not "Mozilla"
_PRODUCT = re.compile(r"([A-Za-z][A-Za-z0-9 ._+-]{0,60}?)/[0-9]")
_GENERIC = {"Mozilla", "AppleWebKit", "KHTML", "Gecko", "Version", "Mobile", "Safari", "like Gecko"}
_COMPATIBLE = re.compile(r"compatible;\s*([^;)]+)")
_VERSION = re.compile(r"[/ ]v?[0-9].*$")


@functools.lru_cache(maxsize=4096)  # a server sees few distinct agents: parsing each request was 3 us
def client_name(user_agent: str) -> str:
    """A user agent reduced to its product name: ``Miniflux``, ``newsboat``, ``Feedly``, ``Chrome``."""
    agent = "".join(c for c in user_agent[:512] if c.isprintable()).strip()
    if not agent:
        return "(none)"
    if compatible := _COMPATIBLE.search(agent):  # Mozilla/5.0 (compatible; Feedfetcher-Google; …)
        name = _VERSION.sub("", compatible.group(1).strip())
    elif named := [t.strip() for t in _PRODUCT.findall(agent) if t.strip() not in _GENERIC]:
        name = named[0]
    elif products := _PRODUCT.findall(agent):
        name = products[0].strip()
    else:  # "Feedbin feed-id:1 - 5 subscribers", "NewsBlur Feed Fetcher - 12 subscribers"
        name = agent.split()[0]
    return name[:MAX_NAME] or "(none)"


def poller_key(agent: str, address: str, path: str) -> str:
    """One poller: a client (its whole user agent) at an address, polling one feed."""
    return hashlib.blake2b(f"{agent}\n{address}\n{path}".encode(), digest_size=12).hexdigest()


def is_poll(environ: dict[str, Any]) -> bool:
    """A GET of a feed document (RSS, Atom, JSON), its archive pages included."""
    return environ.get("REQUEST_METHOD") == "GET" and labels_of(environ.get("PATH_INFO", ""))[1] in FORMAT_TYPES


class RecordPolls:
    """WSGI middleware around the app (the fast path, in front of it, calls ``seen``): each poll
    of a feed is noted in a queue, as it comes; a thread makes the tallies of what is queued and
    keeps them in the polling log every ``FLUSH_SECONDS``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], state_dir: Path) -> None:
        self.app, self.state_dir = app, state_dir
        self.lock = threading.Lock()  # one flush at a time takes what is queued
        self.writing = threading.Lock()  # the polling log's connection: one transaction at a time
        self.pending: deque[Poll] = deque()
        self.polls: PollLog | None = None
        self.broken = False  # the log could not be written: said once, then polls are only counted in memory
        threading.Thread(target=self._flush_forever, name="feedsvc-polls", daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_poll(environ):
            return self.app(environ, start_response)

        def recorded(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            self._record(environ, status)
            return start_response(status, headers, *rest)

        return self.app(environ, recorded)

    def seen(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> None:
        """Record one answer if it is a poll; the fast path, in front of this middleware, calls it directly."""
        if is_poll(environ):
            self._record(environ, status)

    def _record(self, environ: dict[str, Any], status: str) -> None:
        conditional = "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
        # cut to a length that tells pollers apart: headers and paths are the client's to make long
        self.pending.append((environ.get("HTTP_USER_AGENT", "")[:MAX_FIELD], environ.get("HTTP_X_FORWARDED_FOR", "")[:64],
                             environ.get("REMOTE_ADDR", ""), environ.get("PATH_INFO", "")[:MAX_FIELD], conditional,
                             status.startswith("304"), time.time()))
        if len(self.pending) >= MAX_PENDING:  # the thread is late: tallied here rather than held
            self.flush()

    def _tallies(self, polls: list[Poll]) -> tuple[dict[str, Tally], list[tuple[str, str, str, str, float]]]:
        """The tallies by client, and the sightings (agent, address, path, client, time) of these polls."""
        tallies: dict[str, Tally] = {}
        sightings: list[tuple[str, str, str, str, float]] = []
        for agent, forwarded, remote, path, conditional, not_modified, when in polls:
            client = client_name(agent)
            if (tally := tallies.get(client)) is None:
                if len(tallies) >= MAX_CLIENTS:
                    client = OTHER
                tally = tallies.setdefault(client, Tally())
            tally.requests += 1
            tally.conditional += conditional
            tally.not_modified += not_modified
            if len(sightings) < MAX_SIGHTINGS:
                # one poller: this client at this address (a proxy's first hop, when it names one), for this feed
                sightings.append((agent, forwarded.split(",")[0].strip() or remote, path, client, when))
        return tallies, sightings

    def flush(self) -> None:
        with self.lock:
            taken = [self.pending.popleft() for _ in range(len(self.pending))]
        if not taken or self.broken:
            return
        tallies, sightings = self._tallies(taken)
        try:
            with self.writing:
                if self.polls is None:
                    self.polls = PollLog.open(self.state_dir)
                self.polls.add(time.time(), tallies, [(poller_key(*s[:3]), s[3], s[4]) for s in sightings])
        except Exception as e:  # noqa: BLE001 - a report is never worth a failed request or a dead thread
            self.broken = True
            log.error("the polling report cannot be kept in %s (%s); /healthz?clients stays empty", self.state_dir, e)

    def report(self) -> list[ClientReport]:
        self.flush()
        with self.writing:
            if self.polls is None:
                try:
                    self.polls = PollLog.open(self.state_dir)
                except Exception:  # noqa: BLE001 - nowhere to keep it: nothing was kept
                    return []
            return self.polls.report(time.time())

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()
