"""Typed state: what the store remembers besides files and articles (the walk the files table
agrees with, problems with the sources, the last scan and error, push and export state), each
read and written here and nowhere else."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from feedsvc.store.db import Database

PUSH_KEY = "push:signatures"  # the meta key of the feeds' signatures WebSub hubs were last told of


@dataclass(frozen=True)
class LastScan:
    """What the last finished scan did, as /healthz shows it."""
    finished: str  # ISO 8601, milliseconds
    seconds: float
    files: int
    read: int
    changed: int
    errors: int
    waiting: int
    removed: int


@dataclass(frozen=True)
class ScanFailure:
    """The last scan that failed, until one finishes."""
    at: str  # ISO 8601, seconds
    error: str  # the exception's type and message


class State(Database):
    def agreed_walk(self) -> str:
        return self.get_meta("walk")

    def set_agreed_walk(self, digest: str, folders: dict[str, str]) -> None:
        """The files table holds exactly this walk (``folders``: its ``folder_digests``)."""
        self.set_meta("walk", digest)
        self.set_meta("walk_folders", json.dumps(folders))

    def drop_agreed_walk(self) -> None:
        """The files table may differ from any walk so far (a scan is changing it)."""
        self.delete_meta("walk")
        self.delete_meta("walk_folders")

    def agreed_folders(self) -> dict[str, str] | None:
        """The folder digests of the walk the files table agrees with (None: it agrees with none,
        it was agreed before they were kept, or what was kept cannot be read: the scan then
        compares every row)."""
        try:
            found = json.loads(self.get_meta("walk_folders") or "null")
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def source_problem_paths(self) -> set[str]:
        return {path for path, _ in json.loads(self.get_meta("source_problems", "[]"))}

    def set_source_problems(self, problems: Sequence[tuple[str, str]]) -> None:
        """Sources or folders that could not be listed in the last scan."""
        value = json.dumps([list(p) for p in problems], ensure_ascii=False)
        if self.get_meta("source_problems", "[]") != value:
            self.set_meta("source_problems", value)

    # -- the config articles were read with (see scan) -------------------------
    def article_config(self) -> str:
        """The fingerprint of the config the stored articles were read with."""
        return self.get_meta("config")

    # -- the last scan, for /healthz ---------------------------------------------
    def last_scan(self) -> LastScan | None:
        value = self.get_meta("last_scan")
        try:
            return LastScan(**json.loads(value)) if value else None
        except (TypeError, ValueError):  # written by another version: as good as none
            return None

    def record_scan(self, scan: LastScan) -> None:
        """A scan finished: it is the last one, and the last failure is over."""
        self.set_meta("last_error", "")
        self.set_meta("last_scan", json.dumps(dataclasses.asdict(scan)))

    def scan_checked(self, finished: str) -> None:
        """The folders were looked at and nothing moved: as good as a scan that found nothing."""
        if (last := self.last_scan()) is not None:
            self.set_meta("last_scan", json.dumps(dataclasses.asdict(dataclasses.replace(last, finished=finished))))

    def last_failure(self) -> ScanFailure | None:
        value = self.get_meta("last_error")
        try:
            return ScanFailure(**json.loads(value)) if value else None
        except (TypeError, ValueError):
            return None

    def record_failure(self, failure: ScanFailure) -> None:
        self.set_meta("last_error", json.dumps(dataclasses.asdict(failure)))

    # -- what WebSub was last told (see ops.push) ----------------------------------
    def push_signatures(self) -> dict[str, str] | None:
        """Each feed's signature when the hubs were last pinged (None: never)."""
        value = self.get_meta(PUSH_KEY)
        return json.loads(value) if value else None

    def set_push_signatures(self, signatures: dict[str, str]) -> None:
        self.set_meta(PUSH_KEY, json.dumps(signatures, sort_keys=True))

    # -- what an export folder was made from (see ops.export) -------------------------
    def export_state(self, key: str) -> dict[str, Any]:
        """What the last export into the folder ``key`` was made from ({} when unknown)."""
        try:
            found = json.loads(self.get_meta(f"export:{key}", "{}"))
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}
