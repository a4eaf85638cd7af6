"""Freshness benchmark: how soon a new file is in the feeds of a running `feedsvc serve`, and what
an idle server costs, on N generated articles.

    python bench/freshness.py [-n 10000]

The server runs with `scan.interval: 3600` (only the watcher can see a new file) and
`scan.settle: 1`; each round writes one new article and polls /feeds/all.json every 20 ms.
Prints the latency of each round (the budget is settle + 1 s) and the CPU seconds the whole
server (supervisor, granian, workers) used over 20 idle seconds; then, in this process, the CPU
of one interval scan with nothing new, without a watcher (every file stat-ed) and beside one
(the folders stat-ed; every FULL_WALK_EVERY-th interval walks every file), with their average
per interval. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE)]

from generate import generate  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def cpu_of_tree(pid: int) -> float:
    """User + system seconds of a process and all its descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, frontier = 0.0, [pid]
    while frontier:
        current = frontier.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                frontier += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError):
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        root = Path(tmp)
        generate(root / "articles", args.count)
        port = free_port()
        config = root / "feedsvc.yaml"
        config.write_text(f"sources:\n  - path: {root / 'articles'}\nstate_dir: {root / 'state'}\n"
                          f"scan: {{interval: 3600, settle: 1}}\nserver: {{port: {port}}}\n", encoding="utf-8")
        subprocess.run([sys.executable, "-m", "feedsvc", "build", "--config", str(config), "--out", str(root / "out")],
                       check=True, capture_output=True)  # the cold scan, outside the measurement
        os.sync()  # and its gigabytes of writeback too: a first round run beside it took 3.8 s, the rest 1.5
        server = subprocess.Popen([sys.executable, "-m", "feedsvc", "serve", "--config", str(config)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/feeds/all.json"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    fetch(url)
                    break
                except OSError:
                    time.sleep(0.2)
            time.sleep(3)
            latencies = []
            for n in range(args.rounds):
                marker = f"fresh-{n}-{time.time_ns()}"
                started = time.monotonic()
                (root / "articles" / f"{marker}.md").write_text(
                    f"---\ntitle: {marker}\ndate: 2031-01-01 00:00\n---\n<p>new</p>\n", encoding="utf-8")
                while marker.encode() not in fetch(url):
                    time.sleep(0.02)
                latencies.append(time.monotonic() - started)
                time.sleep(1.5)
            before = cpu_of_tree(server.pid)
            time.sleep(20)
            idle = cpu_of_tree(server.pid) - before
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"{args.count} articles, scan.settle 1 s, scan.interval 3600 s")
    print("new file -> in /feeds/all.json, seconds: " + " ".join(f"{x:.2f}" for x in latencies)
          + f"  (median {statistics.median(latencies):.2f}; budget settle + 1 = 2.00)")
    print(f"idle server, 20 s: {idle:.2f} CPU seconds for every process of it")
    print(idle_intervals(args.count))


def idle_intervals(count: int) -> str:
    """CPU of an interval scan that finds nothing, medians of 9, in this process."""
    import resource

    sys.path[:0] = [str(HERE.parent)]
    from feedsvc.config import parse_config
    from feedsvc.ops.scheduler import FULL_WALK_EVERY, SafetyNet, scheduled_scan

    def cpu(step: Callable[[], object]) -> float:
        runs = []
        for _ in range(9):
            before = resource.getrusage(resource.RUSAGE_SELF)
            step()
            after = resource.getrusage(resource.RUSAGE_SELF)
            runs.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return statistics.median(runs)

    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        root = Path(tmp)
        generate(root / "articles", count)
        config = parse_config({"sources": [{"path": str(root / "articles")}], "state_dir": str(root / "state")})
        alone, beside = SafetyNet(), SafetyNet()
        beside.watching = True
        scheduled_scan(config, None, alone)  # the cold scan
        scheduled_scan(config, None, beside)
        walk = cpu(lambda: scheduled_scan(config, None, alone))
        beside.quiet = -10**9  # never the tenth: folders only
        folders = cpu(lambda: scheduled_scan(config, None, beside))
    average = (walk + (FULL_WALK_EVERY - 1) * folders) / FULL_WALK_EVERY
    return (f"idle interval scan, {count} articles, CPU seconds: no watcher {walk:.3f}; beside a watcher {folders:.4f}"
            f" (folders), {average:.3f} averaged over {FULL_WALK_EVERY} intervals")


if __name__ == "__main__":
    main()
