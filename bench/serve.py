"""Serving benchmark: feedsvc against nginx serving the same bytes from a `feedsvc build` export,
and against a bare granian WSGI app that answers every request with those bytes (the floor of
any Python app on this server), once with two headers and once with feedsvc's own headers
(what each header costs granian is then not counted against feedsvc's code).

    python bench/serve.py [--seconds 5] [--connections 32] [--workers 2] [--rounds 5]

Needs wrk and nginx (Debian packages; scripts/system-deps installs nginx, `apt-get install wrk`).
Both servers listen on 127.0.0.1 only and are stopped at the end. Prints requests per second
for a 20-item feed: full 200 responses, 304 responses (If-None-Match), gzip responses, and the
responses to a feed reader's headers (gzip, and an Accept that takes HTML last). Last, feedsvc's
own microseconds an answer, its app called in this process (no server, no network).
The budget: feedsvc's 200 rate at least 0.9x the bare app's (an article page's at least 0.6x the
bare app answering that page's bytes and headers), its 304 rate at least 2x its 200 rate;
both ratios are taken from rounds that alternate the runs they compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from feedsvc.cli import granian_limits

ROOT = Path(__file__).parent.parent
FEED = "/feeds/all.rss"
NGINX_CONF = """daemon off; worker_processes {workers}; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; keepalive_requests 100000;
  types {{ application/rss+xml rss; application/atom+xml atom; application/feed+json json; text/html html; }}
  gzip on; gzip_types application/rss+xml application/atom+xml application/feed+json; gzip_min_length 256;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; charset utf-8; charset_types application/rss+xml; }}
}}
"""


BARE_APP = """import json
import os

BODY = open(os.environ["BARE_FILE"], "rb").read()
HEADERS = [("Content-Type", "application/rss+xml; charset=utf-8"), ("Content-Length", str(len(BODY)))]
HEADERS = [tuple(h) for h in json.loads(os.environ.get("BARE_HEADERS", "null")) or HEADERS]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
"""


# as `feedsvc serve` runs granian (cli.serve, cli.web_threads for this config, which has no image
# proxy): the comparison is of the apps, not the settings
SERVE_THREADS = granian_limits(4)
FEEDSVC = [sys.executable, "-m", "feedsvc"]


def daemon(command: list[str], **kwargs) -> subprocess.Popen:
    """A server in a session of its own, as `feedsvc serve` starts granian and as a service
    manager starts daemons. With the kernel's autogroup scheduling (on by default), processes
    of one session share one slice of the CPU: a server left in wrk's session would get more
    of the two cores than one in its own, and the rates would compare sessions, not servers."""
    return subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def etag_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers["ETag"]


def headers_of(url: str) -> list[tuple[str, str]]:
    """The headers a server answers a plain GET with, less those granian adds itself (server,
    date) and the hop-by-hop ones (urllib asks to close the connection: wrk keeps it open)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return [(k, v) for k, v in response.headers.items()
                if k.lower() not in ("server", "date", "connection", "keep-alive", "transfer-encoding")]


def bare_server(tmp: Path, port: int, workers: int, headers: list[tuple[str, str]] | None,
                body: str = FEED[1:]) -> subprocess.Popen:
    """The bare app answering every request with the exported file ``body``."""
    env = {**os.environ, "BARE_FILE": str(tmp / "site" / body), "BARE_HEADERS": json.dumps(headers)}
    return daemon([sys.executable, "-m", "granian", "--interface", "wsgi", "bare:app", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--no-ws", "--log-level", "warning", *SERVE_THREADS],
                  cwd=tmp, env=env)


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    return float(found.group(1))


# what a feed fetcher sends with a poll: compression, and the common Accept of feed fetchers,
# which some end with HTML at the lowest preference
READER = {"Accept-Encoding": "gzip, deflate, br", "User-Agent": "ExampleReader/1.0",
          "Accept": "application/rss+xml, application/rdf+xml;q=0.8, application/atom+xml;q=0.6, application/xml;q=0.4,"
                    " text/xml;q=0.4, text/html;q=0.2"}


def measure(base: str, seconds: int, connections: int) -> dict[str, float]:
    url = base + FEED
    return {
        "200": wrk(url, seconds, connections, {}),
        "304": wrk(url, seconds, connections, {"If-None-Match": etag_of(url)}),
        "gzip": wrk(url, seconds, connections, {"Accept-Encoding": "gzip"}),
        "reader": wrk(url, seconds, connections, READER),
    }


def in_process(config: Path, cases: dict[str, tuple[str, dict[str, str]]], calls: int = 2000) -> None:
    """feedsvc's own share of each answer: the app's WSGI callable called in this process,
    without granian, wrk or the network, so the machine's noise moves it far less than the
    rates (the least of five batches, in CPU time)."""
    from werkzeug.test import EnvironBuilder

    from feedsvc.config import load_config
    from feedsvc.web.app import create_app

    app = create_app(load_config(str(config))).wsgi_app
    for name, (path, headers) in cases.items():
        environ = EnvironBuilder(path=path, headers=list(headers.items()),
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
        status = _answer(app, environ)  # rendered and cached from here on
        batches = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(calls):
                _answer(app, environ)
            batches.append((time.process_time() - start) / calls * 1e6)
        print(f"in one process, {name} ({status}): {min(batches):.1f} us an answer")


def _answer(app: Callable[..., Iterable[bytes]], environ: dict[str, object]) -> str:
    """The status line of one answer, its body read."""
    statuses: list[str] = []
    b"".join(app(dict(environ), lambda status, headers: statuses.append(status)))
    return statuses[0]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="feedsvc serving benchmark")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of the rates the budgets compare")
    args = parser.parse_args()
    for program in ("wrk", "nginx"):
        if not shutil.which(program) and not Path(f"/usr/sbin/{program}").exists():
            raise SystemExit(f"{program} is needed: apt-get install {program}")
    return args


def _prepare(tmp: Path, nginx_port: int, workers: int) -> tuple[Path, Path]:
    """The example's config and its export, the same config without metrics and the polling
    report (what counting costs the fast path), nginx's config and the bare app."""
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user: they must read the export
    config = tmp / "feedsvc.yaml"
    config.write_text((ROOT / "config" / "feedsvc.yaml").read_text(encoding="utf-8")
                      .replace("../tests/data", str(ROOT / "tests" / "data"))
                      .replace("state_dir: ../.feedsvc", f"state_dir: {tmp / 'state'}"), encoding="utf-8")
    subprocess.run([*FEEDSVC, "build", "--config", str(config), "--out", str(tmp / "site")], check=True,
                   capture_output=True)
    quiet = tmp / "no-metrics.yaml"
    quiet.write_text(config.read_text(encoding="utf-8").replace("metrics: true", "metrics: false")
                     .replace("clients: true", "clients: false"), encoding="utf-8")
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=nginx_port, root=tmp / "site", workers=workers),
                                    encoding="utf-8")
    (tmp / "bare.py").write_text(BARE_APP, encoding="utf-8")
    return config, quiet


def _serve(config: Path, port: int, workers: int) -> subprocess.Popen:
    return daemon([*FEEDSVC, "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)])


def _bare_like(tmp: Path, port: int, workers: int, feed_port: int, path: str, page: str | None = None
               ) -> subprocess.Popen:
    """The bare app answering feedsvc's status, headers (validators, caching, type) and bytes
    for ``path``, once it is up."""
    server = bare_server(tmp, port, workers, headers_of(f"http://127.0.0.1:{feed_port}{path}"), page or FEED[1:])
    wait_up(f"http://127.0.0.1:{port}{path}")
    return server


def _report(args: argparse.Namespace, ours: dict[str, float], nginx: dict[str, float], rounds: list[list[float]],
            article: str) -> None:
    print(f"{'':8} {'feedsvc req/s':>14} {'nginx req/s':>12} {'feedsvc/nginx':>14}")
    for kind in ("200", "304", "gzip", "reader"):
        print(f"{kind:8} {ours[kind]:14.0f} {nginx[kind]:12.0f} {ours[kind] / nginx[kind]:14.2f}")
    bare, ours_200, same = (statistics.median(r[i] for r in rounds) for i in range(3))
    print(f"200 in {args.rounds} alternating rounds (req/s): bare granian app {bare:.0f}, feedsvc {ours_200:.0f}, "
          f"the bare app with feedsvc's headers {same:.0f}")
    print(f"feedsvc 200 / bare: {statistics.median(r[1] / r[0] for r in rounds):.2f} (budget >= 0.9; median of the"
          f" rounds: {', '.join(f'{r[1] / r[0]:.2f}' for r in rounds)})")
    print(f"feedsvc 200 / the bare app with its headers: {statistics.median(r[1] / r[2] for r in rounds):.2f}")
    print(f"feedsvc 304 / 200: {statistics.median(r[3] / r[1] for r in rounds):.2f} (budget >= 2; median of the"
          f" rounds: {', '.join(f'{r[3] / r[1]:.2f}' for r in rounds)})")
    print(f"an article page ({article}): feedsvc {statistics.median(r[6] for r in rounds):.0f} req/s, the bare app with"
          f" its bytes and headers {statistics.median(r[5] for r in rounds):.0f}: feedsvc / bare"
          f" {statistics.median(r[6] / r[5] for r in rounds):.2f} (budget >= 0.6)")
    quiet_200 = statistics.median(r[4] for r in rounds)
    print(f"200 with /metrics and the polling report / without: {statistics.median(r[1] / r[4] for r in rounds):.2f}"
          f" ({ours_200:.0f}"
          f" against {quiet_200:.0f} req/s: {(1 / ours_200 - 1 / quiet_200) * 1e6 * args.workers:+.1f} us per request"
          f" and worker)")


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="feedsvc-serve-bench-") as tmp_name:
        tmp = Path(tmp_name)
        feed_port, nginx_port, bare_port, same_port, quiet_port, page_port = (free_port() for _ in range(6))
        config, quiet = _prepare(tmp, nginx_port, args.workers)
        servers = [daemon(["nginx", "-c", str(tmp / "nginx.conf")]), bare_server(tmp, bare_port, args.workers, None),
                   _serve(config, feed_port, args.workers), _serve(quiet, quiet_port, args.workers)]
        try:
            for port in (nginx_port, feed_port, bare_port, quiet_port):
                wait_up(f"http://127.0.0.1:{port}{FEED}")
            servers.append(_bare_like(tmp, same_port, args.workers, feed_port, FEED))
            # an article page: feedsvc renders it from the index; the bare app answers its bytes
            page = min((tmp / "site" / "articles").glob("*.html")).relative_to(tmp / "site").as_posix()
            article = "/" + page.removesuffix(".html")
            servers.append(_bare_like(tmp, page_port, args.workers, feed_port, article, page))
            exported = (tmp / "site" / FEED[1:]).read_bytes()
            same = urllib.request.urlopen(f"http://127.0.0.1:{feed_port}{FEED}").read() == exported
            print(f"{FEED}: 20 items, {len(exported)} bytes; feedsvc and nginx serve the same bytes: {same}")
            print(f"wrk: {args.connections} connections, {args.seconds} s per run; "
                  f"{args.workers} workers each; {os.cpu_count()} cores shared with wrk")
            nginx = measure(f"http://127.0.0.1:{nginx_port}", args.seconds, args.connections)
            ours = measure(f"http://127.0.0.1:{feed_port}", args.seconds, args.connections)
            # the rates the budgets compare alternate, round after round: this machine's speed
            # drifts over a minute by more than the budget's 10 %, so each ratio is of runs taken
            # side by side (the bare app, feedsvc, the bare app with its headers, feedsvc's 304)
            runs = [(bare_port, FEED, {}), (feed_port, FEED, {}), (same_port, FEED, {}),
                    (feed_port, FEED, {"If-None-Match": etag_of(f"http://127.0.0.1:{feed_port}{FEED}")}),
                    (quiet_port, FEED, {}), (page_port, article, {}), (feed_port, article, {})]
            rounds = [[wrk(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections, headers)
                       for port, path, headers in runs] for _ in range(args.rounds)]
            etag = etag_of(f"http://127.0.0.1:{feed_port}{FEED}")
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(timeout=30)
        _report(args, ours, nginx, rounds, article)
        in_process(config, {"the feed, no headers": (FEED, {}), "the feed, a reader's headers": (FEED, READER),
                            "the feed, 304": (FEED, {"If-None-Match": etag}), "an article page": (article, {})})


if __name__ == "__main__":
    main()
