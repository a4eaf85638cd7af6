"""What counting a request for /metrics and for the polling report costs the fast path, in one
process: a WSGI app that answers at once, called bare, behind ``metrics.CountRequests`` and
behind ``polls.RecordPolls`` (a feed poll by a real reader's user agent), alternating rounds,
with prometheus_client in multiprocess mode as under ``feedsvc serve``. Each counts the tally
its thread makes of what the requests queued (and the polls' write to their log).

    python bench/metrics.py [--calls 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HEADERS = [("Cache-Control", "public, max-age=300"), ("Vary", "Accept-Encoding"), ("ETag", '"x"'),
           ("Content-Type", "application/rss+xml; charset=utf-8"), ("Content-Length", "139844")]


def app(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001
    start_response("200 OK", HEADERS)
    return [b""]


def per_call(handler, calls: int, flush=lambda: None) -> float:  # noqa: ANN001
    """Microseconds a call, with ``flush`` (the tally a thread makes of what the calls queued) counted in."""
    environ = {"PATH_INFO": "/feeds/all.rss", "REQUEST_METHOD": "GET", "HTTP_IF_NONE_MATCH": '"y"',
               "HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Miniflux/2.1.3; +https://miniflux.app)",
               "REMOTE_ADDR": "192.0.2.7"}
    started = time.perf_counter()
    for _ in range(calls):
        handler(environ, lambda status, headers, *rest: None)
    flush()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedsvc-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        sys.path[:0] = [str(Path(__file__).parent.parent)]
        from feedsvc.ops.metrics import CountRequests
        from feedsvc.web.polls import RecordPolls

        counted, recorded = CountRequests(app), RecordPolls(app, Path(folder))
        bare, wrapped, polled = [], [], []
        for _ in range(args.rounds):
            bare.append(per_call(app, args.calls))
            # each with the tally its thread makes of the queued answers, and the write of the polls
            wrapped.append(per_call(counted, args.calls, counted.flush))
            polled.append(per_call(recorded, args.calls, recorded.flush))
    for name, runs in (("counted for /metrics", wrapped), ("recorded for the polling report", polled)):
        extra = statistics.median(w - b for w, b in zip(runs, bare, strict=True))
        print(f"a request {name} costs {extra:.2f} us more (median of {args.rounds} alternating rounds of"
              f" {args.calls} calls; bare app {statistics.median(bare):.2f} us, wrapped {statistics.median(runs):.2f} us)")


if __name__ == "__main__":
    main()
