"""Scheduler: the incremental scan every ``scan.interval`` seconds, once per deployment.

It runs in the ``feedsvc serve`` supervisor process, never in a web worker, so however many
workers serve requests there is one scanner; a lock file in ``state_dir`` also keeps a second
deployment (or a ``feedsvc build``) on the same index from scanning at the same time. After a
scan, the WebSub hubs hear of every feed it changed (``push``). A scan
that fails is logged, rolled back and recorded for ``/healthz``: the last good feeds stay
online. An index that is corrupt is moved aside and rebuilt from the sources.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler

from .config import Config
from .files import scan_lock
from .index import Index, is_corrupt, set_aside
from .push import Pusher, changed_topics
from .scan import ScanReport, scan
from .sources import folders_moved

log = logging.getLogger("feedsvc.scan")
FULL_WALK_EVERY = 10  # beside a watcher, every tenth interval scan walks every file whatever the folders say


class SafetyNet:
    """The interval scan beside a running watcher, which sees each change as it happens: the
    scan only looks for what the watcher could have missed. A file created, removed or renamed
    moves its folder's mtime, so the scan stats the folders (a few hundred system calls
    instead of one per file) and walks every file only when one moved; a file edited in place
    moves only its own mtime, so every ``FULL_WALK_EVERY``-th interval walks every file anyway."""

    def __init__(self) -> None:
        self.watching = False  # set by the watcher thread while it runs
        self.folders: dict[str, int] = {}  # from the last walk of every file
        self.quiet = 0  # intervals since then

    def walk_needed(self) -> bool:
        return (not self.watching or not self.folders or self.quiet + 1 >= FULL_WALK_EVERY
                or folders_moved(self.folders))


def scheduled_scan(config: Config, pusher: Pusher | None, net: SafetyNet) -> ScanReport | None:
    """The interval's scan: all of the sources, unless the safety net finds nothing to look at."""
    if not net.walk_needed():
        net.quiet += 1
        _record_check(config)
        return None
    report = scan_once(config, None, pusher)
    if report is not None:
        net.folders, net.quiet = report.folders or {}, 0
    return report


def _record_check(config: Config) -> None:
    """The folders were looked at and nothing moved: as good as a scan for /healthz."""
    with scan_lock(config.state_dir) as held:
        if not held:
            return
        index = Index.open(config.state_dir)
        try:
            last = json.loads(index.get_meta("last_scan", "{}") or "{}")
            if last:
                last["finished"] = datetime.now(UTC).isoformat(timespec="milliseconds")
                index.set_meta("last_scan", json.dumps(last))
        finally:
            index.close()


def record(index: Index, report: ScanReport, finished: float) -> None:
    index.set_meta("last_error", "")
    index.set_meta("last_scan", json.dumps({
        "finished": datetime.fromtimestamp(finished, UTC).isoformat(timespec="milliseconds"),
        "seconds": round(report.seconds, 3), "files": report.seen, "read": report.read,
        "changed": report.changed, "errors": report.errors, "waiting": report.waiting, "removed": report.removed,
    }))


def scan_once(config: Config, only: set[str] | None = None, pusher: Pusher | None = None) -> ScanReport | None:
    """One scan with the lock held; None when another scan is running or the scan failed.
    ``only``: the paths the watcher saw change; such a scan waits for a running one (its
    changes must not be dropped), a scheduled one is skipped instead. ``pusher``: the WebSub
    pings of the feeds the scan changed."""
    with scan_lock(config.state_dir, wait=only is not None) as held:
        if not held:
            log.warning("scan skipped: another scan of %s is running", config.state_dir)
            return None
        try:
            report = _scan_or_rebuild(config, only, pusher)
        except Exception as e:
            log.exception("scan failed; the last good feeds stay online")
            _record_failure(config, e)
            return None
    log.info("scan: %d files, %d read, %d changed, %d errors, %d waiting, %d removed in %.2fs (pid %d)",
             report.seen, report.read, report.changed, report.errors, report.waiting, report.removed,
             report.seconds, os.getpid())
    return report


def _scan_or_rebuild(config: Config, only: set[str] | None, pusher: Pusher | None) -> ScanReport:
    try:
        return _scan(config, only, pusher)
    except sqlite3.DatabaseError as e:
        if not is_corrupt(e):
            raise
        moved = set_aside(config.state_dir)
        log.error("the index was corrupt (%s); moved it to %s and rebuilding it from the sources", e, moved)
        return _scan(config, None, pusher)


def _scan(config: Config, only: set[str] | None, pusher: Pusher | None) -> ScanReport:
    index = Index.open(config.state_dir)
    try:
        report = scan(index, config, only=only)
        record(index, report, time.time())
        # the first scan of a process looks too: the config (a title, the hubs) may have changed
        if pusher and (report.changed or report.removed or not pusher.primed):
            pusher.publish(changed_topics(index, config))
            pusher.primed = True
        return report
    finally:
        index.close()


def _record_failure(config: Config, error: Exception) -> None:
    """For /healthz, when the index can still be written (a full disk may say no: then the
    last scan only grows old, and /healthz says that instead)."""
    try:
        index = Index.open(config.state_dir)
        try:
            index.set_meta("last_error", json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                                                     "error": f"{type(error).__name__}: {error}"}))
        finally:
            index.close()
    except Exception:  # noqa: BLE001 - already logged above
        pass


def start(config: Config) -> BackgroundScheduler:
    """Scan now, then every interval; never two at once, missed runs coalesce into one. With
    ``scan.watch``, a watcher thread also scans what changed as soon as it has settled."""
    scheduler = BackgroundScheduler(timezone=UTC)
    pusher = Pusher(config.push.hubs) if config.push.hubs else None
    net = SafetyNet()
    scheduler.add_job(scheduled_scan, "interval", args=[config, pusher, net], seconds=config.scan.interval, id="scan",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
    scheduler.start()
    if config.scan.watch:
        stop = threading.Event()
        threading.Thread(target=watch, args=(config, stop, pusher, net), name="feedsvc-watch", daemon=True).start()
        scheduler.add_listener(lambda event: stop.set(), EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def watch(config: Config, stop: threading.Event, pusher: Pusher | None = None, net: SafetyNet | None = None) -> None:
    """Scan the files that changed, once no change has come for ``scan.settle`` seconds (a
    mirror writes a file in several pieces; a file is read once it is quiet)."""
    from watchfiles import watch as changes  # only `serve` watches

    paths = [str(source.path) for source in config.sources if source.path.is_dir()]
    quiet_ms = max(int(config.scan.settle * 1000), 50)
    net = net or SafetyNet()
    try:
        batches = changes(*paths, step=quiet_ms, debounce=max(quiet_ms * 10, 1600), stop_event=stop,
                          ignore_permission_denied=True, raise_interrupt=False, yield_on_timeout=True)
        for batch in batches:
            net.watching = True  # the watcher is in place (it yields, empty, once it is)
            if batch:
                scan_once(config, {path for _, path in batch}, pusher)
    except Exception:  # noqa: BLE001 - the interval scan goes on without the watcher
        log.exception("watching %s stopped; changes are picked up every %g s", paths, config.scan.interval)
    finally:
        net.watching = False
