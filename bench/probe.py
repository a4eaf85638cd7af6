"""The security probe's load and fault cases against a real ``feedsvc serve`` on 127.0.0.1, with
what clients saw printed for each:

- the mirror's whole rewrite (rm -rf, then slow non-atomic writes) while four clients poll;
- kill -9 of the server in the middle of its cold scan, then a restart;
- a full disk under ``state_dir`` (a small tmpfs; needs root), then room again;
- slow clients: connections that send their headers a byte a second, while a client polls.

    python bench/probe.py [-n 500] [--slow 256]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE)]

from freshness import free_port  # noqa: E402
from generate import generate  # noqa: E402


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()
    except OSError:
        return 0, b""


def wait_for(check: Callable[[], object], timeout: float) -> float:
    """Seconds until ``check`` held (``timeout`` and more when it never did)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    return float("inf")


class Server:
    def __init__(self, root: Path, articles: Path, state: Path, scan: str = "{interval: 5, settle: 0.5}") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = root / f"probe-{self.port}.yaml"
        self.config.write_text(f"site: {{url: '{self.url}'}}\nsources: [{{path: '{articles}'}}]\nstate_dir: '{state}'\n"
                               f"scan: {scan}\nserver: {{workers: 2, port: {self.port}}}\n", encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, "-m", "feedsvc", "serve", "--config", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def health(self) -> tuple[int, dict]:
        status, body = get(self.url + "/healthz")
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def items(self) -> int:
        status, body = get(self.url + "/feeds/all.json")
        return len(json.loads(body)["items"]) if status == 200 else -1

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def mirror_rewrite(root: Path, count: int) -> str:
    articles = root / "rewrite"
    generate(articles, count)
    server = Server(root, articles, root / "rewrite-state")
    try:
        wait_for(lambda: server.health()[1].get("articles") == count, 120)
        seen: Counter[int] = Counter()
        fewest, done = [10**9], threading.Event()

        def poll() -> None:
            while not done.is_set():
                status, body = get(server.url + "/feeds/all.json")
                seen[status] += 1
                if status == 200:
                    fewest[0] = min(fewest[0], len(json.loads(body)["items"]))

        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(4)]
        for poller in pollers:
            poller.start()
        copies = {path: path.read_bytes() for path in articles.rglob("*") if path.is_file()}
        shutil.rmtree(articles)
        for path, data in copies.items():  # half, a pause, the rest: as the mirror writes
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                time.sleep(0.005)
                handle.write(data[len(data) // 2:])
        try:
            settled = wait_for(lambda: server.health()[1].get("articles") == count
                               and server.health()[1].get("last_scan", {}).get("waiting") == 0, 120)
        finally:
            done.set()
        for poller in pollers:
            poller.join()
        return (f"mirror rewrite of {count} files while 4 clients polled: {sum(seen.values())} requests, statuses"
                f" {dict(seen)}, fewest items in a 200: {fewest[0]} (limit 20); all {count} back"
                f" {settled:.1f} s after the last write")
    finally:
        server.stop()


def kill_mid_scan(root: Path, count: int) -> str:
    articles, state = root / "killed", root / "killed-state"
    generate(articles, count)
    server = Server(root, articles, state)
    wait_for(lambda: (state / "index.sqlite3").exists(), 60)
    time.sleep(0.3)  # into the cold scan
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    def left() -> list[str]:
        return subprocess.run(["pgrep", "-f", f"probe-{server.port}"], capture_output=True, text=True).stdout.split()

    gone = wait_for(lambda: not left(), 30)
    again = Server(root, articles, state)
    try:
        healthy = wait_for(lambda: again.health()[0] == 200 and again.health()[1].get("articles") == count, 300)
        return (f"kill -9 0.3 s into a cold scan of {count} files: its processes gone {gone:.1f} s later; after a"
                f" restart, {count} articles and /healthz 200 in {healthy:.1f} s")
    finally:
        again.stop()


def disk_full(root: Path, count: int) -> str:
    state = root / "full-state"
    state.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(state)], capture_output=True).returncode:
        return "disk full: skipped (mounting a tmpfs needs root)"
    try:
        articles = root / "full"
        generate(articles, count)
        server = Server(root, articles, state)
        try:
            failing = wait_for(lambda: server.health()[0] == 503 and "reasons" in server.health()[1], 60)
            reasons = server.health()[1].get("reasons", [])
            subprocess.run(["mount", "-o", "remount,size=256m", str(state)], check=True)
            recovered = wait_for(lambda: server.health()[0] == 200 and server.items() == 20, 120)
            return (f"disk full under state_dir: /healthz 503 after {failing:.1f} s with {reasons[:1]}; room again:"
                    f" 200 with the feeds {recovered:.1f} s later")
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def slow_clients(root: Path, count: int, slow: int) -> str:
    articles = root / "slow"
    generate(articles, count)
    server = Server(root, articles, root / "slow-state")
    try:
        wait_for(lambda: server.health()[0] == 200, 120)

        def latencies() -> tuple[list[float], int]:
            found, failed = [], 0
            for _ in range(100):
                started = time.monotonic()
                status, _ = get(server.url + "/feeds/all.json")
                found.append(time.monotonic() - started)
                failed += status != 200
            return found, failed

        alone, _ = latencies()
        sockets, stop = [], threading.Event()
        for _ in range(slow):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /feeds/all.json HTTP/1.1\r\nHost: x\r\n")
            sockets.append(sock)

        def drip() -> None:
            while not stop.wait(1):
                for sock in sockets:
                    try:
                        sock.sendall(b"X")
                    except OSError:
                        pass

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        beside, failed = latencies()
        stop.set()
        dripper.join()
        for sock in sockets:
            sock.close()

        def p(values: list[float], q: float) -> float:
            return statistics.quantiles(values, n=100)[int(q) - 1] * 1000

        return (f"{slow} slow clients (headers a byte a second): a poller's 100 requests, {failed} failed;"
                f" p50 {p(beside, 50):.1f} ms, p99 {p(beside, 99):.1f} ms (alone: p50 {p(alone, 50):.1f},"
                f" p99 {p(alone, 99):.1f})")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=500)
    parser.add_argument("--slow", type=int, default=256)
    parser.add_argument("--cases", default="rewrite,kill,full,slow", help="which cases, comma-separated")
    args = parser.parse_args()
    cases = {"rewrite": lambda root: mirror_rewrite(root, args.count),
             "kill": lambda root: kill_mid_scan(root, max(args.count, 3000)),
             "full": lambda root: disk_full(root, args.count),
             "slow": lambda root: slow_clients(root, args.count, args.slow)}
    with tempfile.TemporaryDirectory(prefix="feedsvc-probe-") as tmp:
        for name in args.cases.split(","):
            print(cases[name](Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
