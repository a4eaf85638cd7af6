"""Scheduler: the incremental scan every ``scan.interval`` seconds, once per deployment.

It runs in the ``feedsvc serve`` supervisor process, never in a web worker, so however many
workers serve requests there is one scanner; a lock file in ``state_dir`` also keeps a second
deployment (or a ``feedsvc build``) on the same index from scanning at the same time. After a
scan, the WebSub hubs hear of every feed it changed (``push``). A scan
that fails is logged, rolled back and recorded for ``/healthz``: the last good feeds stay
online. An index that is corrupt is moved aside and rebuilt from the sources.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler

from feedsvc.atomic import scan_lock
from feedsvc.config import Config
from feedsvc.ingest.scan import ScanReport
from feedsvc.ingest.sources import folders_moved
from feedsvc.ops import metrics
from feedsvc.ops.health import ScannerStatus, corruption_mark
from feedsvc.ops.pipeline import export_dir, healing, keep_target_in_sync, scan_and_publish
from feedsvc.ops.push import Pusher
from feedsvc.store import DB_NAME, ScanFailure, Store

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
        self.index_id: tuple[int, int] | None = None  # the index that walk went into
        self.ticks = 0  # intervals so far
        self.verified = 0  # the interval whose scan last checked the index's integrity

    def walk_needed(self, index_id: tuple[int, int] | None) -> bool:
        """``index_id``: the index file as it is now; another one (deleted with its state
        directory, set aside as corrupt) holds none of the files, whatever the folders say."""
        return (not self.watching or not self.folders or self.quiet + 1 >= FULL_WALK_EVERY
                or index_id != self.index_id or folders_moved(self.folders))


def index_id(config: Config) -> tuple[int, int] | None:
    try:
        st = os.stat(config.state_dir / DB_NAME)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def scheduled_scan(config: Config, pusher: Pusher | None, net: SafetyNet, status: ScannerStatus | None = None
                   ) -> ScanReport | None:
    """The interval's scan: all of the sources, unless the safety net finds nothing to look at.
    The first walk ``FULL_WALK_EVERY`` intervals or more after the last check also checks the
    index's integrity (SQLite's quick check: 0.2 s for the 715 MB index of 10,000 articles),
    so damage that no query has met yet is found and healed all the same."""
    net.ticks += 1
    if not net.walk_needed(index_id(config)):
        net.quiet += 1
        _record_check(config)
        return None
    verify = net.ticks - net.verified >= FULL_WALK_EVERY
    report = scan_once(config, None, pusher, status, verify=verify)
    if verify:
        net.verified = net.ticks
    if report is not None:
        net.folders, net.quiet, net.index_id = report.folders or {}, 0, index_id(config)
    return report


def _record_check(config: Config) -> None:
    """The folders were looked at and nothing moved: as good as a scan for /healthz."""
    with scan_lock(config.state_dir) as held:
        if not held:
            return
        index = Store.open(config.state_dir)
        try:
            index.scan_checked(datetime.now(UTC).isoformat(timespec="milliseconds"))
        finally:
            index.close()


def scan_once(config: Config, only: set[str] | None = None, pusher: Pusher | None = None,
              status: ScannerStatus | None = None, wait: bool | None = None, verify: bool = False) -> ScanReport | None:
    """One scan with the lock held; None when another scan is running or the scan failed.
    ``only``: the paths the watcher saw change; such a scan waits for a running one (its
    changes must not be dropped), a scheduled one is skipped instead (``wait`` says otherwise:
    a scan for files that have settled must not be dropped either). ``pusher``: the WebSub
    pings of the feeds the scan changed. ``status``: where a failure is shown to /healthz
    even when the index cannot record it (the lock cannot be taken: an unwritable state_dir)."""
    try:
        with scan_lock(config.state_dir, wait=only is not None if wait is None else wait) as held:
            if not held:
                # the interval came during another scan (the watcher's, a build's): normal, not a warning
                log.info("scan skipped: another scan of %s is running", config.state_dir)
                return None
            report = _scan_or_rebuild(config, only, pusher, status, verify)
    except Exception as e:
        log.exception("scan failed; the last good feeds stay online")
        _record_failure(config, e)
        metrics.scan_failed()
        if status:
            status.set("scan", f"the last scan failed: {type(e).__name__}: {e}")
        return None
    metrics.scan_finished(report.seconds, report.read, report.errors)
    if status:
        status.set("scan", None)
        if only is None:  # a whole scan: an index rebuilt at start is whole again
            status.set("index", None)
    log.info("scan: %d files, %d read, %d changed, %d errors, %d waiting, %d removed in %.2fs (pid %d)",
             report.seen, report.read, report.changed, report.errors, report.waiting, report.removed,
             report.seconds, os.getpid())
    return report


def _scan_or_rebuild(config: Config, only: set[str] | None, pusher: Pusher | None,
                     status: ScannerStatus | None, verify: bool = False) -> ScanReport:
    """A scan; on a corrupt index (met by the scan, or by a web worker that left the mark), the
    index is moved aside and rebuilt from the sources, /healthz saying so until it is done."""
    marked = corruption_mark()
    verify = verify or (marked is not None and marked.exists())
    if marked is not None:
        marked.unlink(missing_ok=True)

    def healed(why: str) -> None:
        log.error("%s", why)
        if status:
            status.set("index", why)

    def run(index: Store, rebuilding: bool) -> ScanReport:
        out = export_dir(config) if config.deploy.target else None  # the export the target is kept equal to
        published = scan_and_publish(index, config, only=None if rebuilding else only, record=True, out=out,
                                     ping=pusher is not None, first=pusher is not None and not pusher.primed)
        if out is not None:
            failed = keep_target_in_sync(config, published)
            if failed:
                log.error("%s", failed)
            if status:
                status.set("deploy", failed)
        if pusher:  # after the deploy: a hub fetches the new bytes from the public URL
            pusher.publish(published.topics)
            pusher.primed = True
        if rebuilding and status:
            status.set("index", None)
        return published.report

    return healing(config.state_dir, run, healed, verify)


def _record_failure(config: Config, error: Exception) -> None:
    """For /healthz, when the index can still be written (a full disk may say no: then the
    last scan only grows old, and /healthz says that instead)."""
    try:
        index = Store.open(config.state_dir)
        try:
            index.record_failure(ScanFailure(at=datetime.now(UTC).isoformat(timespec="seconds"),
                                             error=f"{type(error).__name__}: {error}"))
        finally:
            index.close()
    except Exception:  # noqa: BLE001 - already logged above
        pass


class Scanner:
    """The scans of ``feedsvc serve``: on the interval, from the watcher, and once more when a
    file that was still being written has settled (else it would wait for the next interval)."""

    def __init__(self, config: Config, scheduler: BackgroundScheduler, status: ScannerStatus) -> None:
        self.config, self.scheduler, self.status = config, scheduler, status
        self.pusher = Pusher(config.push.hubs) if config.push.hubs else None
        self.net = SafetyNet()

    def overrun(self, event: object) -> None:
        """The interval came while its scan was still running: the next one follows it."""
        count = self.status.count("scans_overrun")
        metrics.scan_overrun()
        log.info("a scan was still running when the next interval came; it follows that one (%d so far)", count)

    def scheduled(self) -> None:
        self._follow_up(scheduled_scan(self.config, self.pusher, self.net, self.status))

    def changed(self, only: set[str] | None) -> None:
        """A scan for what the watcher saw, or for files now settled: it waits for a running one."""
        self._follow_up(scan_once(self.config, only, self.pusher, self.status, wait=True))

    def _follow_up(self, report: ScanReport | None) -> None:
        """A whole scan later: once the files still being written have settled, or soon after
        a scan that failed (the changes the watcher named to it are not lost with it). Whole:
        the waiting files are not named, and a walk that finds nothing new is cheap (0.07 s at
        10,000 files)."""
        if "scan" in self.status.problems:
            delay = RETRY_SECONDS
        elif report is not None and report.waiting:
            delay = report.settles_in + SETTLE_MARGIN
        else:
            return
        when = datetime.now(UTC) + timedelta(seconds=min(delay, self.config.scan.interval))
        self.scheduler.add_job(self.changed, "date", args=[None], run_date=when, id="again", replace_existing=True,
                               misfire_grace_time=None)


SETTLE_MARGIN = 0.05  # seconds past the settle time, so that the files have
RETRY_SECONDS = 5.0  # after a failed scan


def start(config: Config, status: ScannerStatus | None = None) -> BackgroundScheduler:
    """Scan now, then every interval; never two at once, missed runs coalesce into one. With
    ``scan.watch``, a watcher thread also scans what changed as soon as it has settled."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scanner = Scanner(config, scheduler, status or ScannerStatus(None))
    scheduler.add_job(scanner.scheduled, "interval", seconds=config.scan.interval, id="scan",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
    # a scan that outlasts its interval is normal (a cold scan of a large mirror): APScheduler's
    # warnings about it would look like trouble to an operator, so it is counted and told at info
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scheduler.add_listener(scanner.overrun, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    scheduler.start()
    if config.scan.watch:
        stop = threading.Event()
        threading.Thread(target=watch, args=(scanner, stop), name="feedsvc-watch", daemon=True).start()
        scheduler.add_listener(lambda event: stop.set(), EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def _roots(config: Config) -> dict[str, tuple[int, int]]:
    """Each source folder there is, by path: which folder it is (device, inode)."""
    found = {}
    for source in config.sources:
        try:
            st = os.stat(source.path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            found[str(source.path)] = (st.st_dev, st.st_ino)
    return found


WATCH_TICK_MS = 1000  # how often the watcher looks whether a source folder was replaced
MAX_BACKOFF = 60.0


def watch(scanner: Scanner, stop: threading.Event) -> None:
    """Scan the files that changed, once no change has come for ``scan.settle`` seconds (a
    mirror writes a file in several pieces; a file is read once it is quiet).

    A watch follows a folder, not its name: when a source is replaced (``rm -rf src; mkdir
    src``) or appears, the watch starts over on what the name is now, after a scan of it.
    Any error restarts it, with a growing pause, and shows on /healthz until it runs again;
    meanwhile the interval scan walks every file."""
    config, net = scanner.config, scanner.net
    backoff, rescan = 1.0, False
    while not stop.is_set():
        roots = _roots(config)
        try:
            if roots:
                _watch_until_moved(scanner, stop, roots, rescan)
            else:  # no source folder yet: the interval scan reports it; look again shortly
                scanner.status.set("watcher", None)
                stop.wait(WATCH_TICK_MS / 1000)
            backoff, rescan = 1.0, True  # what a new folder holds was never seen by a watch
        except Exception as e:  # noqa: BLE001 - the interval scan goes on; the watch is restarted
            net.watching = False
            log.exception("watching %s stopped; restarting it in %g s", list(roots), backoff)
            scanner.status.set("watcher", f"watching the sources stopped ({type(e).__name__}: {e});"
                                          f" restarting; changes are picked up every {config.scan.interval:g} s")
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
    net.watching = False


def _watch_until_moved(scanner: Scanner, stop: threading.Event, roots: dict[str, tuple[int, int]],
                       rescan: bool) -> None:
    """Watch these folders until ``stop``, or until a source folder is not the one watched.
    ``rescan``: scan every file once the watch is in place (the folders are new to it)."""
    from watchfiles import watch as changes  # only `serve` watches

    config, net = scanner.config, scanner.net
    quiet_ms = max(int(config.scan.settle * 1000), 50)
    batches = changes(*roots, step=quiet_ms, debounce=max(quiet_ms * 10, 1600), stop_event=stop,
                      rust_timeout=WATCH_TICK_MS, ignore_permission_denied=True, raise_interrupt=False,
                      yield_on_timeout=True)
    try:
        for batch in batches:
            net.watching = True  # the watcher is in place (it yields, empty, once it is)
            scanner.status.set("watcher", None)
            paths = {path for _, path in batch}
            if batch or rescan:
                scanner.changed(None if rescan else paths)
                rescan = False
            # a folder removed and made again often gets its inode number back: its own event tells
            if not paths.isdisjoint(roots) or _roots(config) != roots:
                log.warning("a source folder was replaced or appeared; watching it anew")
                return
    finally:
        net.watching = False
        batches.close()
