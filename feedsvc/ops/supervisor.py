"""Supervisor: ``feedsvc serve``'s process around the web server it starts (granian): the port
must be free, the server dies with the supervisor, and stop signals reach it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time

from feedsvc.ingest.pools import killed_with_parent


class StartError(Exception):
    """The server cannot start; the message says why, for the operator."""


def ensure_free(host: str, port: int) -> None:
    """Refuse to start beside another server on the same port (granian's SO_REUSEPORT would
    let both listen and split the traffic)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise StartError(f"cannot listen on {host}: {e.strerror}") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise StartError(f"cannot listen on {host}:{port}: {e.strerror} (is another feedsvc serve running?)") from e


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The web server in a process group of its own (so its workers can be stopped with it),
    killed when this process dies, even by SIGKILL (Linux). Killed, not asked: a stop goes
    through ``supervise``, so this only fires when the supervisor itself died, and granian's
    graceful shutdown was seen to deadlock then (its workers follow the supervisor anyway)."""
    return subprocess.Popen(command, env=env, preexec_fn=killed_with_parent(), start_new_session=True)


SUPERVISOR_PID = "FEEDSVC_SUPERVISOR_PID"


def follow_supervisor(environ: dict[str, str] | None = None, period: float = 1.0) -> None:
    """In a web worker: exit when the supervisor is gone. granian stops its workers on SIGTERM,
    but a worker that was still starting can miss that and keep the port (seen after kill -9)."""
    pid = int((os.environ if environ is None else environ).get(SUPERVISOR_PID, "0") or 0)
    if pid <= 0:
        return

    def watch() -> None:
        while True:
            time.sleep(period)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="feedsvc-follow-supervisor", daemon=True).start()


def _stop_group(web: subprocess.Popen[bytes], grace: float = 5) -> None:
    """Whatever is left of the web server's process group once its main process is gone (a
    worker that missed the shutdown would hold the port and serve stale pages)."""
    deadline = time.monotonic() + grace
    while _signal_group(web, signal.SIGKILL if time.monotonic() > deadline else signal.SIGTERM):
        time.sleep(0.1)


# granian's exit when a worker ended before granian told it to stop (it counts that as a crash)
WORKER_ENDED_FIRST = 1


def supervise(web: subprocess.Popen[bytes], grace: float = 15, group_after: float = 3) -> int:
    """Wait for the web server; on SIGTERM/SIGINT stop it, and kill what is left after
    ``grace`` seconds.

    The stop goes to granian's main process alone, every half second until it ends: granian
    stops each worker itself, and a worker that ends before granian told it to counts as a
    crash (an error in the log, and exit 1, seen on a busy machine when every process got the
    signal at once). From ``group_after`` seconds on (``serve`` passes one past granian's own
    wait for a worker that does not stop), the workers are signalled too: a worker still
    starting when granian passed the stop on misses it, and granian could wait for it until
    the grace ran out.

    A stop that was asked for ends in 0 even when granian says a worker ended first: systemd
    signals every process of the service at once."""
    stopping: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(time.monotonic()))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(time.monotonic()))
    while True:
        try:
            code = web.wait(timeout=0.5)
            _stop_group(web)
            return 0 if stopping and code == WORKER_ENDED_FIRST else code
        except subprocess.TimeoutExpired:
            if not stopping:
                continue
            waited = time.monotonic() - stopping[0]
            if waited <= group_after:
                with contextlib.suppress(ProcessLookupError):
                    web.send_signal(signal.SIGTERM)
            else:
                _signal_group(web, signal.SIGKILL if waited > grace else signal.SIGTERM)


def _signal_group(web: subprocess.Popen[bytes], sent: signal.Signals) -> bool:
    """Signal the web server's main process and its workers (its process group: ``start``);
    False when none of them is left."""
    try:
        os.killpg(web.pid, sent)
    except (ProcessLookupError, PermissionError):  # gone (the group id may be another's by now)
        return False
    return True
