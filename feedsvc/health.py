"""Health: what ``/healthz`` says, honestly: 503 with the reasons whenever readers may be served
something stale or wrong (no scan yet, the last scan failed or is long overdue, a source that
cannot be read, a feed that does not render, an index that cannot be read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .config import Config
from .index import Index


def overdue_after(config: Config) -> float:
    """Seconds without a finished scan after which /healthz says so: three intervals, and never
    less than 15 minutes (a cold scan of a large mirror takes minutes)."""
    return max(3 * config.scan.interval, 900)


def health_report(index: Index, config: Config, feeds: int, render_failures: dict[str, str],
                  now: datetime) -> tuple[dict[str, object], int]:
    last = index.get_meta("last_scan")
    if not last:
        return {"status": "starting", "detail": "no scan has finished yet"}, 503
    last_scan = json.loads(last)
    problems = index.problems()
    unreadable = index.source_problem_paths()  # read once, not once per problem
    reasons = [f"{p.path}: {p.message}" for p in problems if p.path in unreadable]
    if error := index.get_meta("last_error"):
        reasons.append(f"the last scan failed: {json.loads(error)['error']}")
    age = (now - datetime.fromisoformat(last_scan["finished"])).total_seconds()
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
    }
    if reasons:
        body["reasons"] = reasons
    return body, 503 if reasons else 200


def now_utc() -> datetime:
    return datetime.now(UTC)
