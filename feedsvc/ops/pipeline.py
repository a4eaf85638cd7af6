"""The one pipeline that ``build``, ``check`` and ``serve`` share: open the store (healing a
corrupt one), scan the sources into it, write the export when there is one, and find the feeds
whose bytes changed for WebSub."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from feedsvc.config import Config
from feedsvc.ingest.scan import ScanReport, scan
from feedsvc.model import Problem
from feedsvc.ops import metrics
from feedsvc.ops.export import ExportReport, export
from feedsvc.ops.push import changed_topics
from feedsvc.store import LastScan, Store, StoreFault, is_corrupt, open_healed, set_aside

Tick = Callable[[int], object]
Progress = Callable[[str], AbstractContextManager[Tick]]
Result = TypeVar("Result")


@contextlib.contextmanager
def no_progress(label: str) -> Iterator[Tick]:
    yield lambda n: None


@dataclass(frozen=True)
class Published:
    report: ScanReport
    exported: ExportReport | None  # None: nothing was exported (serve renders on request)
    topics: list[str]  # the feed URLs whose bytes changed: what WebSub hubs are told
    problems: list[Problem]


def scan_and_publish(index: Store, config: Config, *, first: bool, ping: bool, only: set[str] | None = None,
                     settle: float | None = None, out: Path | None = None, record: bool = False,
                     progress: Progress = no_progress) -> Published:
    """Scan into ``index`` and close it. ``out``: export there too. ``ping``: look for the
    feeds whose bytes changed (when the scan changed something, or on this process's ``first``
    run: the config, a title or the hubs, may have changed). ``record``: keep the scan for
    /healthz."""
    try:
        with progress("scan") as tick:
            report = scan(index, config, settle=settle, progress=tick, only=only)
        if record:
            record_scan(index, report, time.time())
        exported = None
        if out is not None:
            with progress("export") as tick:
                exported = export(index, config, out, tick=tick)
        changed = report.changed or report.removed or first
        topics = changed_topics(index, config) if ping and config.push.hubs and changed else []
        return Published(report, exported, topics, index.problems() if out is not None else [])
    finally:
        index.close()


def record_scan(index: Store, report: ScanReport, finished: float) -> None:
    index.record_scan(LastScan(
        finished=datetime.fromtimestamp(finished, UTC).isoformat(timespec="milliseconds"),
        seconds=round(report.seconds, 3), files=report.seen, read=report.read,
        changed=report.changed, errors=report.errors, waiting=report.waiting, removed=report.removed,
    ))


def healing(state_dir: Path, run: Callable[[Store, bool], Result], healed: Callable[[str], object],
            verify: bool = False) -> Result:
    """``run(store, rebuilding)`` on the store in ``state_dir``. A corrupt index, found when it
    is opened (or by ``verify``'s integrity check) or while ``run`` reads it, is moved aside and
    ``run`` goes again on a new one, which it fills from the sources; ``healed`` is told why
    first. ``run`` closes the store."""
    index, why = open_healed(state_dir, verify)
    if why is None:
        try:
            return run(index, False)
        except StoreFault as e:
            if not is_corrupt(e):
                raise
            moved = set_aside(state_dir)  # run closed it
            why = f"the index was corrupt ({e}); moved it to {moved.name} and rebuilding it from the sources"
            index = Store.open(state_dir)
    healed(why)
    return run(index, True)


PENDING = "deploy-pending"  # in state_dir while a deploy of serve's export is owed to the target


def keep_target_in_sync(config: Config, published: Published) -> str | None:
    """``serve`` with ``deploy.target``: after a scan whose export changed files (or while an
    earlier deploy is owed), make the target equal to the export, before any hub is told. None
    when the target is in sync; else why not (the next scan tries again)."""
    from feedsvc.ops.deploy import DeployError, deploy

    exported, pending = published.exported, config.state_dir / PENDING
    if exported is None or not (exported.written or exported.removed or pending.exists()):
        return None
    pending.touch()
    try:
        deploy(config, export_dir(config), say=lambda line: None)
    except (DeployError, OSError) as e:
        metrics.deployed(False)
        return f"the last deploy to {config.deploy.target} failed: {e}"
    metrics.deployed(True)
    pending.unlink(missing_ok=True)
    return None


def export_dir(config: Config) -> Path:
    """Where ``serve`` keeps the export it deploys, and ``deploy`` builds by default."""
    return config.state_dir / "export"
