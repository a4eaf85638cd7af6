"""Health: what ``/healthz`` says, honestly: 503 with the reasons whenever readers may be served
something stale or wrong (no scan yet, the last scan failed or is long overdue, a source that
cannot be read, a feed that does not render, an index that cannot be read)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.atomic import replace_file
from feedsvc.config import Config
from feedsvc.store import Store

log = logging.getLogger("feedsvc.health")
STATUS_ENV = "FEEDSVC_SCANNER_STATUS"  # set by `serve` for its web workers: where ScannerStatus writes


class ScannerStatus:
    """What the scanning process says of itself (a scan that cannot even start, a watcher that
    stopped), for /healthz in the web workers. Kept in a file of its own outside ``state_dir``:
    a state directory that cannot be written must still be seen failing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.problems: dict[str, str] = {}  # by part: "scan", "watcher", "index"
        self.counts: dict[str, int] = {}  # things that are no problem but worth a look: "scans_overrun"
        self.lock = threading.Lock()

    def set(self, part: str, problem: str | None) -> None:
        """Record ``part``'s problem (None: it is fine again); written only when it changes."""
        with self.lock:
            if self.problems.get(part) == problem:
                return
            if problem is None:
                del self.problems[part]
            else:
                self.problems[part] = problem
            self._write()

    def count(self, name: str) -> int:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            self._write()
            return self.counts[name]

    def _write(self) -> None:
        if self.path is not None:
            try:
                replace_file(self.path, json.dumps({"problems": self.problems, "counts": self.counts},
                                                   ensure_ascii=False).encode())
            except OSError as e:
                log.error("cannot write the scanner's status to %s: %s", self.path, e.strerror or e)


CORRUPT_MARK = "index-corrupt"  # beside the status file: a web worker met a corrupt index


def corruption_mark(environ: dict[str, str] | None = None) -> Path | None:
    """Where a web worker of `serve` marks the index as corrupt, for the scanner to check it."""
    path = (os.environ if environ is None else environ).get(STATUS_ENV)
    return Path(path).parent / CORRUPT_MARK if path else None


def scanner_status(environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, int]]:
    """The problems and counts the scanning process last recorded (see ScannerStatus); none
    outside `serve`."""
    path = (os.environ if environ is None else environ).get(STATUS_ENV)
    if not path:
        return [], {}
    try:
        with open(path, encoding="utf-8") as handle:
            status = json.load(handle)
        return [str(problem) for problem in status["problems"].values()], dict(status["counts"])
    except FileNotFoundError:
        return [], {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"the scanner's status cannot be read: {e}"], {}


def overdue_after(config: Config) -> float:
    """Seconds without a finished scan after which /healthz says so: three intervals, and never
    less than 15 minutes (a cold scan of a large mirror takes minutes)."""
    return max(3 * config.scan.interval, 900)


def health_report(index: Store, config: Config, feeds: int, render_failures: dict[str, str],
                  now: datetime) -> tuple[dict[str, object], int]:
    last = index.last_scan()
    scanner, counts = scanner_status()
    if last is None:
        return {"status": "starting", "detail": "no scan has finished yet", **({"reasons": scanner} if scanner else {})}, 503
    last_scan = dataclasses.asdict(last)
    problems = index.problems()
    unreadable = index.source_problem_paths()  # read once, not once per problem
    reasons = [f"{p.path}: {p.message}" for p in problems if p.path in unreadable]
    if failure := index.last_failure():
        reasons.append(f"the last scan failed: {failure.error}")
    reasons = list(dict.fromkeys([*reasons, *scanner]))  # a failed scan is in both when the index could be written
    age = (now - datetime.fromisoformat(last.finished)).total_seconds()
    if age > overdue_after(config):
        reasons.append(f"no scan has finished for {int(age)} s")
    reasons += [f"{path} does not render: {error}" for path, error in sorted(render_failures.items())]
    body: dict[str, object] = {
        "status": "failing" if reasons else "ok",
        "articles": index.count_live(),
        "feeds": feeds * len(config.feeds.formats),
        "last_scan": last_scan,
        "files_in_error": sorted({p.path for p in problems if p.fatal}),
        # what `check` prints as warnings (unknown tag plugins, lenient front matter, ...); the
        # first 100: a big mirror can have many, and this is polled
        "warnings": [f"{p.path}: {p.message}" for p in problems if not p.fatal][:100],
        **counts,  # scans_overrun: interval scans that found the previous one still running (no problem)
    }
    if reasons:
        body["reasons"] = reasons
    return body, 503 if reasons else 200


def now_utc() -> datetime:
    return datetime.now(UTC)
