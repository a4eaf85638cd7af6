"""Scheduler: the incremental scan every ``scan.interval`` seconds, once per deployment.

It runs in the ``feedsvc serve`` supervisor process, never in a web worker, so however many
workers serve requests there is one scanner; a lock file in ``state_dir`` also keeps a second
deployment (or a ``feedsvc build``) on the same index from scanning at the same time. A scan
that fails is logged and rolled back: the last good feeds stay online.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from .config import Config
from .files import scan_lock
from .index import Index
from .scan import ScanReport, scan

log = logging.getLogger("feedsvc.scan")


def record(index: Index, report: ScanReport, finished: float) -> None:
    index.set_meta("last_scan", json.dumps({
        "finished": datetime.fromtimestamp(finished, UTC).isoformat(timespec="milliseconds"),
        "seconds": round(report.seconds, 3), "files": report.seen, "read": report.read,
        "changed": report.changed, "errors": report.errors, "waiting": report.waiting, "removed": report.removed,
    }))


def scan_once(config: Config) -> ScanReport | None:
    """One scan with the lock held; None when another scan is running."""
    with scan_lock(config.state_dir) as held:
        if not held:
            log.warning("scan skipped: another scan of %s is running", config.state_dir)
            return None
        index = Index.open(config.state_dir)
        try:
            report = scan(index, config)
            record(index, report, time.time())
        except Exception:
            log.exception("scan failed; the last good feeds stay online")
            return None
        finally:
            index.close()
    log.info("scan: %d files, %d read, %d changed, %d errors, %d waiting, %d removed in %.2fs (pid %d)",
             report.seen, report.read, report.changed, report.errors, report.waiting, report.removed,
             report.seconds, os.getpid())
    return report


def start(config: Config) -> BackgroundScheduler:
    """Scan now, then every interval; never two at once, missed runs coalesce into one."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(scan_once, "interval", args=[config], seconds=config.scan.interval, id="scan",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
    scheduler.start()
    return scheduler
