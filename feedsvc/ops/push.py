"""Push: WebSub publish pings to the configured hubs for every feed whose bytes changed.

After a scan, each feed's signature (what its bytes are made of, the one the export skips on)
is compared with the one recorded after the previous round; every URL (all formats) of a feed
whose signature moved is sent to each hub as ``hub.mode=publish``, once per round, by one
background thread per process: a slow or dead hub never holds up a scan or a request. Failed
pings are retried with doubling delays, then given up and logged.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from urllib.parse import urlencode

from feedsvc.config import Config
from feedsvc.feeds.catalog import document, document_signature, feed_specs, render_fingerprint, select
from feedsvc.ops import metrics
from feedsvc.store import Store
from feedsvc.urls import absolute, feed_base, feed_path

log = logging.getLogger("feedsvc.push")
ATTEMPTS = 6  # first try plus five retries: 1, 2, 4, 8, 16 s apart
TIMEOUT = 10  # seconds for one POST


def changed_topics(index: Store, config: Config) -> list[str]:
    """The feed URLs whose bytes changed since the last call, and records the new state. The
    first call only records: before it, nobody can have subscribed through a hub."""
    fingerprint = render_fingerprint(config)
    specs = feed_specs(index, config)
    now = {}
    for spec in specs:
        doc = document(spec, config)  # the feed itself: its archive pages have no subscribers
        assert doc is not None  # page 0 always is
        now[feed_base(spec)] = document_signature(fingerprint, doc, select(index, spec))
    old = index.push_signatures()
    index.set_push_signatures(now)
    if old is None:
        return []
    return [absolute(config.site.url, feed_path(spec, fmt)) for spec in specs
            if old.get(feed_base(spec)) != now[feed_base(spec)] for fmt in config.feeds.formats]


def ping(hub: str, topic: str) -> None:
    """One publish notification; raises OSError (urllib's errors included) when the hub does not
    take it (a 2xx answer)."""
    import urllib.error  # with http.client, 50 ms to import: only when there is a hub to tell
    import urllib.request

    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
    request = urllib.request.Request(hub, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as e:
        e.close()  # it holds the connection
        raise


class Pusher:
    """The queue of pings and the thread that sends them."""

    def __init__(self, hubs: tuple[str, ...], first_delay: float = 1.0) -> None:
        self.hubs, self.first_delay = hubs, first_delay
        self.due: list[tuple[float, int, str, str, int]] = []  # (when, order, hub, topic, attempt)
        self.pending: set[tuple[str, str]] = set()  # queued, not yet sent: one per hub and topic
        self.busy = 0
        self.order = itertools.count()
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.primed = False  # this process has compared the feeds with the recorded state once

    def publish(self, topics: list[str]) -> None:
        """Queue a ping of every topic to every hub (a topic already waiting is not queued twice)."""
        with self.cond:
            for hub in self.hubs:
                for topic in topics:
                    if (hub, topic) not in self.pending:
                        self.pending.add((hub, topic))
                        heapq.heappush(self.due, (time.monotonic(), next(self.order), hub, topic, 1))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="feedsvc-push", daemon=True)
                self.thread.start()
            self.cond.notify()
        if topics:
            log.info("WebSub: %d changed feed URLs queued for %d hubs", len(topics), len(self.hubs))

    def drain(self, timeout: float) -> bool:
        """Wait until every ping is sent or given up; False when ``timeout`` came first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.due or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.due or self.due[0][0] > time.monotonic():
                    self.cond.wait(None if not self.due else self.due[0][0] - time.monotonic())
                _, _, hub, topic, attempt = heapq.heappop(self.due)
                # a change from now on needs a ping of its own: the hub may fetch before it lands
                self.pending.discard((hub, topic))
                self.busy += 1
            try:
                ping(hub, topic)
            except (OSError, ValueError) as e:
                metrics.ping(False)
                self._failed(hub, topic, attempt, e)
            else:
                metrics.ping(True)
                log.info("WebSub: %s told that %s changed", hub, topic)
                self._done()

    def _failed(self, hub: str, topic: str, attempt: int, error: Exception) -> None:
        with self.cond:
            self.busy -= 1
            if attempt >= ATTEMPTS:
                log.error("WebSub: gave up telling %s that %s changed, after %d attempts: %s", hub, topic, attempt, error)
            elif (hub, topic) not in self.pending:  # else a newer ping of it is queued already
                delay = self.first_delay * 2 ** (attempt - 1)
                log.warning("WebSub: %s did not take the ping for %s (%s); retrying in %g s", hub, topic, error, delay)
                self.pending.add((hub, topic))
                heapq.heappush(self.due, (time.monotonic() + delay, next(self.order), hub, topic, attempt + 1))
            self.cond.notify_all()

    def _done(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()
