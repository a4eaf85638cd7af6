"""Metrics: ``/metrics`` in the Prometheus text format, correct across every process of a
``feedsvc serve`` (its web workers and the scanner).

prometheus_client's multiprocess mode: ``serve`` makes a private folder and names it in
``PROMETHEUS_MULTIPROC_DIR`` before any process imports prometheus_client; each process then
keeps its counters in memory-mapped files there, and a scrape adds them up. Outside ``serve``
(tests, ``create_app`` alone) the counters live in the process, as usual.

Labels are few and bounded: a kind of path, a status, a format, conditional or not. No label
ever holds a feed path, a query or a user agent.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

from feedsvc.model import FORMAT_TYPES
from feedsvc.urls import kind_of

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FORMATS = {f".{fmt}": fmt for fmt in FORMAT_TYPES} | {".html": "html", ".xml": "xml", ".xsl": "xml"}


_MAKING = threading.Lock()  # two workers' threads asking first must not both make the metrics


def _metrics() -> Any:
    with _MAKING:
        return _made()


@cache
def _made() -> Any:
    """The metric objects, made on first use (importing prometheus_client costs start-up time,
    and in multiprocess mode must follow the environment variable)."""
    from types import SimpleNamespace

    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        requests=Counter("feedsvc_requests", "HTTP requests answered",
                         ["kind", "status", "format", "conditional"]),
        sent=Counter("feedsvc_response_bytes", "Bytes of response bodies sent", ["kind"]),
        scans=Counter("feedsvc_scans", "Scans of the sources", ["result"]),
        scan_seconds=Histogram("feedsvc_scan_seconds", "How long a scan took",
                               buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)),
        overruns=Counter("feedsvc_scan_overruns", "Interval scans that found the previous one still running"),
        files_read=Counter("feedsvc_scan_files_read", "Article files read by scans"),
        file_errors=Counter("feedsvc_scan_file_errors", "Article files a scan could not publish"),
        pings=Counter("feedsvc_push_pings", "WebSub pings sent to hubs", ["result"]),
        images=Counter("feedsvc_image_proxy", "Image proxy requests", ["result"]),
        deploys=Counter("feedsvc_deploys", "Deploys of the export to deploy.target by serve", ["result"]),
    )


def format_of(path: str) -> str:
    dot = path.rfind(".")
    return _FORMATS.get(path[dot:], "other") if dot > path.rfind("/") else "html"


@lru_cache(maxsize=1024)  # pollers ask for the same few paths all day: 0.1 us, against 0.7 worked out
def labels_of(path: str) -> tuple[str, str]:
    """The kind and the format of a request path, as the metrics and the polling report file it."""
    return kind_of(path), format_of(path)


class CountRequests:
    """WSGI middleware around the whole app (the fast path included): every answer counted, the
    body's bytes from its Content-Length (the fast path's answers all have one).

    A request only notes its answer in a queue (no lock, no labels worked out); a thread counts
    what is queued and moves the sums into prometheus_client's counters every
    ``FLUSH_SECONDS``, and a scrape moves its own worker's at once. Incrementing the
    multiprocess counters on every request took 12 us, more than the fast path's whole answer;
    counting in the request, under a lock, cost a fast-path answer a sixth of its rate."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()  # one flush at a time takes what is queued
        self.pending: deque[tuple[str, str, str, bool, int]] = deque()  # kind, format, status, conditional, bytes
        threading.Thread(target=self._flush_forever, name="feedsvc-metrics", daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def counted(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            self.seen(environ, status, headers)
            return start_response(status, headers, *rest)

        return self.app(environ, counted)

    def seen(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> None:
        """Note one answer; the fast path, in front of this middleware, calls it directly."""
        size = 0
        if environ.get("REQUEST_METHOD") != "HEAD":
            for name, value in headers:
                if name == "Content-Length":
                    size = int(value)
                    break
        conditional = "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
        # the labels, not the path: a queued path could be kilobytes long
        self.pending.append((*labels_of(environ.get("PATH_INFO", "")), status[:3], conditional, size))
        if len(self.pending) >= MAX_PENDING:  # the thread is late: counted here rather than held
            self.flush()

    def flush(self) -> None:
        with self.lock:
            taken = Counter(self.pending.popleft() for _ in range(len(self.pending)))
        answers: Counter[tuple[str, str, str, str]] = Counter()
        sent: Counter[str] = Counter()
        for (kind, fmt, status, conditional, size), count in taken.items():
            answers[kind, status, fmt, "true" if conditional else "false"] += count
            sent[kind] += size * count
        if not answers:
            return
        metrics = _metrics()
        for labels, count in answers.items():
            metrics.requests.labels(*labels).inc(count)
        for kind, size in sent.items():
            if size:
                metrics.sent.labels(kind).inc(size)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


MAX_PENDING = 100_000  # answers noted between two flushes, at most (about 12 MB)
FLUSH_SECONDS = 1.0


def scan_finished(seconds: float, read: int, errors: int) -> None:
    metrics = _metrics()
    metrics.scans.labels("ok").inc()
    metrics.scan_seconds.observe(seconds)
    metrics.files_read.inc(read)
    metrics.file_errors.inc(errors)


def scan_overrun() -> None:
    _metrics().overruns.inc()


def scan_failed() -> None:
    _metrics().scans.labels("failed").inc()


def ping(ok: bool) -> None:
    _metrics().pings.labels("ok" if ok else "failed").inc()


def deployed(ok: bool) -> None:
    _metrics().deploys.labels("ok" if ok else "failed").inc()


def image(result: str) -> None:
    """``result``: ``hit`` (from the cache), ``fetched``, ``refused`` (unsigned, private) or ``failed``."""
    _metrics().images.labels(result).inc()


def exposition(articles: int, feeds: int) -> bytes:
    """Every process's counters, and the index's own figures as gauges."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    _metrics()  # this process's counters exist, even before its first request
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    gauges = [GaugeMetricFamily("feedsvc_articles", "Articles published", value=articles),
              GaugeMetricFamily("feedsvc_feeds", "Feed documents served (each format counted)", value=feeds)]
    return generate_latest(registry) + generate_latest(_Fixed(gauges))


class _Fixed:
    """A registry-like holder of metric families made for one scrape."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families
