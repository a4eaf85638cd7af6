"""A real ``feedsvc serve`` on a free 127.0.0.1 port, for tests that poll it like clients do."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    found, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.add(int(child))
                frontier.add(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(check: Callable[[], object], timeout: float = 30, step: float = 0.1) -> object:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except (OSError, ValueError):
            pass
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


class LiveServer:
    def __init__(self, tmp: Path, articles: Path, workers: int = 2, extra_yaml: str = "", limit: int = 20,
                 **scan: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "live.yaml"
        scan_yaml = ", ".join(f"{k}: {v}" for k, v in {"interval": 1, "settle": 0, **scan}.items())
        self.config.write_text(
            f"site: {{title: Live, url: '{self.url}', timezone: Asia/Shanghai}}\n"
            f"sources: [{{path: '{articles}'}}]\nstate_dir: '{tmp / 'live-state'}'\n"
            f"scan: {{{scan_yaml}}}\nfeeds: {{cache_seconds: 60, limit: {limit}}}\nserver: {{workers: {workers}}}\n{extra_yaml}",
            encoding="utf-8")
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> LiveServer:
        self.log.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc", "serve", "--config", str(self.config), "--port", str(self.port),
             "--access-log"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.reader = threading.Thread(target=self._read_log, daemon=True)
        self.reader.start()
        wait_for(lambda: get(self.url + "/healthz", timeout=2)[0] == 200, timeout=60)
        return self

    def _read_log(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.log.append(line.rstrip("\n"))

    def stop(self) -> int:
        assert self.process
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self.reader.join(timeout=5)
            if self.process.stdout and not self.reader.is_alive():  # closing under a blocked reader deadlocks
                self.process.stdout.close()

    def kill(self) -> None:
        """kill -9: the supervisor gets no chance to stop anything itself."""
        assert self.process
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.reader.join(timeout=5)
        if self.process.stdout and not self.reader.is_alive():  # closing under a blocked reader deadlocks
            self.process.stdout.close()

    def health(self) -> dict:
        return json.loads(get(self.url + "/healthz")[2])

    def scan_lines(self) -> list[str]:
        return [line for line in self.log if "feedsvc.scan: scan:" in line]

    def next_scans(self, count: int = 1, timeout: float = 30) -> None:
        """Wait until ``count`` more scans have finished."""
        target = len(self.scan_lines()) + count
        wait_for(lambda: len(self.scan_lines()) >= target, timeout=timeout)

    def feed(self, path: str) -> dict:
        return json.loads(get(self.url + path)[2])


class StaticSite:
    """A static export served over HTTP on 127.0.0.1, as nginx would (a page's stylesheet is
    root-relative: opened from file:// it would not load)."""

    def __init__(self, folder: Path) -> None:
        import functools
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
