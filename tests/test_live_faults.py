"""The real server through faults: kill -9, a second server on the same port, and the mirror's
whole rewrite of a few hundred files (rm -rf, then slow non-atomic writes) while clients poll."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .live import LiveServer, alive, children, get, wait_for


def test_kill_9_of_serve_takes_its_web_workers_down_and_a_restart_serves(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus).start()
    assert live.process
    workers = children(live.process.pid)
    assert len(workers) >= 3  # granian and its two workers
    live.kill()
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=20)
    live.start()
    try:
        assert live.health()["status"] == "ok"
    finally:
        live.stop()


def test_a_stop_while_the_workers_start_ends_at_once(tmp_path: Path, corpus: Path) -> None:
    """systemd stops a service by signalling each of its processes at once. Caught as granian
    spawns its workers, a worker missed the signal and granian waited for it until the
    supervisor's 15 s grace ran out and killed it all."""
    live = LiveServer(tmp_path, corpus)
    process = subprocess.Popen([sys.executable, "-m", "feedsvc", "serve", "--config", str(live.config), "--port",
                                str(live.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def started() -> set[int] | None:  # every process of the service once granian forks its first worker
        for pid in children(process.pid):
            if b"granian" in Path(f"/proc/{pid}/cmdline").read_bytes() and children(pid):
                return children(process.pid)
        return None

    tree = wait_for(started, timeout=30, step=0.005)
    assert isinstance(tree, set)
    stopping = time.monotonic()
    for pid in (process.pid, *tree):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - stopping < 5
    wait_for(lambda: not any(alive(pid) for pid in tree), timeout=10)


# As granian does: the main process stops its worker itself, and exits 1 when the worker ended
# before it was told to (granian logs that as an unexpected exit and counts it as a crash).
GRANIAN_LIKE = """import pathlib, signal, subprocess, sys, time
out = pathlib.Path(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
(out / "worker").write_text(str(worker.pid))
while not stop:
    time.sleep(0.01)
time.sleep(0.3)  # the moment granian's main process takes to reach its workers
ended_first = worker.poll() is not None
worker.terminate()
worker.wait()
(out / "ended-first").write_text(str(ended_first))
sys.exit(1 if ended_first else 0)
"""
SUPERVISING = """import os, sys
from feedsvc.ops import supervisor
web = supervisor.start([sys.executable, sys.argv[1], sys.argv[2]], dict(os.environ))
print(supervisor.supervise(web), flush=True)
"""


def _supervising(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """The supervisor around a granian-like server, once it catches SIGTERM and the worker runs."""
    (tmp_path / "server.py").write_text(GRANIAN_LIKE, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-c", SUPERVISING, str(tmp_path / "server.py"), str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)

    def catches_sigterm() -> bool:
        caught = next(line for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                      if line.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

    wait_for(lambda: catches_sigterm() and (tmp_path / "worker").exists(), timeout=30, step=0.01)
    return process, int((tmp_path / "worker").read_text())


def test_a_stop_reaches_the_workers_through_granian_and_exits_0(tmp_path: Path) -> None:
    """Signalled at once with granian, a worker could end before granian told it to: granian
    then logged an unexpected exit and exited 1, and `serve` with it (once in a loaded run of
    the suite). granian is told first, alone, and stops its workers itself."""
    process, _ = _supervising(tmp_path)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert (tmp_path / "ended-first").read_text() == "False"
    assert out.strip() == "0"


def test_a_stop_sent_to_every_process_at_once_still_exits_0(tmp_path: Path) -> None:
    """systemd signals each process of the service at once: a worker may end before granian
    tells it to, and granian exits 1. The stop was asked for, and it stopped: exit 0."""
    process, worker = _supervising(tmp_path)
    server = next(pid for pid in children(process.pid) if pid != worker)
    for pid in (worker, server, process.pid):  # the worker first, as a busy machine may deliver them
        os.kill(pid, signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert (tmp_path / "ended-first").read_text() == "True"
    assert out.strip() == "0"


def test_a_second_serve_on_the_same_port_refuses_to_start(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus).start()
    try:
        second = subprocess.run([sys.executable, "-m", "feedsvc", "serve", "--config", str(live.config), "--port",
                                 str(live.port)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and f"cannot listen on 127.0.0.1:{live.port}" in second.stderr
        assert get(live.url + "/healthz")[0] == 200
    finally:
        live.stop()


def write_slowly(path: Path, content: bytes) -> None:
    """As the mirror writes: not atomically, in two pieces a moment apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(content[: len(content) // 2])
        handle.flush()
        time.sleep(0.002)
        handle.write(content[len(content) // 2 :])


def test_the_mirrors_full_rewrite_loses_moves_and_doubles_nothing(tmp_path: Path, articles: Path) -> None:
    files = {}
    for n in range(300):
        dated = f"date: 2022-01-{n % 28 + 1:02} 10:{n % 60:02}\n" if n % 3 else ""  # a third have no date
        files[articles / f"site{n % 5}" / f"route{n % 3}" / f"post{n}.md"] = (
            f"---\ntitle: Post {n}\n{dated}categories: [Site {n % 5}, Route {n % 3}]\n---\n<p>body {n}</p>\n".encode())
    for path, content in files.items():
        write_slowly(path, content)
    live = LiveServer(tmp_path, articles, settle=2, limit=100).start()
    seen: list[dict[str, tuple[str, str]]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            items = _all_items(live)
            ids = [i["id"] for i in items]
            assert len(ids) == len(set(ids)), "an item appears twice"
            seen.append({i["id"]: (i["date_published"], i["date_modified"]) for i in items})
            time.sleep(0.05)

    try:
        live.next_scans(1)
        wait_for(lambda: live.health()["articles"] == 300, timeout=60)
        before = _snapshot(live)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        for _ in range(2):
            for folder in list(articles.iterdir()):
                shutil.rmtree(folder)
            time.sleep(1.2)  # a scan or so sees the directory empty
            for path, content in files.items():
                write_slowly(path, content)
        live.next_scans(4, timeout=60)
        stop.set()
        poller.join(timeout=20)
        assert len(seen) > 20
        assert all(snapshot == before for snapshot in seen)  # nothing disappeared, nothing moved
        assert _snapshot(live) == before
    finally:
        stop.set()
        live.stop()


def _all_items(live: LiveServer) -> list[dict]:
    """Every article, through the category feeds (the 'all' feed shows only the newest 20)."""
    items: dict[str, dict] = {}
    for site in range(5):
        items.update({i["id"]: i for i in live.feed(f"/categories/site-{site}.json?limit=1000")["items"]})
    return list(items.values())


def _snapshot(live: LiveServer) -> dict[str, tuple[str, str]]:
    return {i["id"]: (i["date_published"], i["date_modified"]) for i in _all_items(live)}



def test_a_new_file_is_in_the_feeds_as_soon_as_it_settles_without_waiting_for_the_interval(
        tmp_path: Path, articles: Path) -> None:
    from .test_live import write

    live = LiveServer(tmp_path, articles, interval=3600, settle=0.5).start()  # one scan at start, then none
    try:
        started = time.monotonic()
        write(articles, "fresh.md", "Fresh from the mirror")
        wait_for(lambda: b"Fresh from the mirror" in get(live.url + "/feeds/all.json")[2], timeout=10, step=0.05)
        elapsed = time.monotonic() - started
        (articles / "fresh.md").write_text("---\ntitle: Edited in place\ndate: 2030-01-01 00:00\n---\nx\n", encoding="utf-8")
        wait_for(lambda: b"Edited in place" in get(live.url + "/feeds/all.json")[2], timeout=10, step=0.05)
        assert elapsed < 5  # the interval is an hour: only the watcher can have seen it
    finally:
        live.stop()
