"""The polling log: how each kind of feed reader polls, kept beside the index in a database of
its own (``polls.sqlite3``), which the web workers write and which survives restarts.

Per hour and client (a user agent reduced to its product name): requests, how many were
conditional, how many were answered 304; and a histogram of the gaps between two polls of one
feed by one poller (a client at an address), in quarter-octave buckets. The last poll of each
poller is kept for two days, so that a gap spans workers and restarts. Every table is bounded:
hours older than two days are dropped, an hour holds at most ``MAX_CLIENTS`` clients (the rest
count as ``OTHER``), and at most ``MAX_POLLERS`` pollers are remembered.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from feedsvc.store.db import _chunks

DB_NAME = "polls.sqlite3"
SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS clients (
    hour INTEGER NOT NULL, client TEXT NOT NULL, requests INTEGER NOT NULL, conditional INTEGER NOT NULL,
    not_modified INTEGER NOT NULL, PRIMARY KEY (hour, client)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
    hour INTEGER NOT NULL, client TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (hour, client, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pollers (poller TEXT PRIMARY KEY, last REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pollers_by_last ON pollers (last);
"""
HOUR = 3600
KEPT = 2 * 24 * HOUR  # hours and pollers older than this are dropped
MAX_CLIENTS = 200  # distinct clients in one hour; more are counted as OTHER
MAX_POLLERS = 100_000
OTHER = "(other)"
BUCKETS_PER_OCTAVE = 4


@dataclass
class Tally:
    """One client's requests in one flush."""
    requests: int = 0
    conditional: int = 0
    not_modified: int = 0


@dataclass(frozen=True)
class ClientReport:
    client: str
    requests: int
    conditional: float  # share of the requests that carried If-None-Match or If-Modified-Since
    not_modified: float  # share answered 304
    median_gap: float | None  # seconds between two polls of one feed by one poller (None: no repeat seen)


def gap_bucket(seconds: float) -> int:
    return round(math.log2(max(seconds, 1.0)) * BUCKETS_PER_OCTAVE)


def bucket_seconds(bucket: int) -> float:
    return float(2 ** (bucket / BUCKETS_PER_OCTAVE))


def median_of(histogram: dict[int, int]) -> float | None:
    """The median of a histogram of gap buckets, as the bucket's seconds."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if 2 * seen >= total:
            return round(bucket_seconds(bucket), 1)
    return None  # not reached: the loop ends at the last bucket


class PollLog:
    """The polling log of one state directory. Each web worker opens its own."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @classmethod
    def open(cls, state_dir: Path) -> PollLog:
        db = sqlite3.connect(state_dir / DB_NAME, timeout=10, isolation_level=None, check_same_thread=False)
        db.executescript(SCHEMA)
        db.execute("PRAGMA synchronous = NORMAL")
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def add(self, now: float, tallies: dict[str, Tally], sightings: Sequence[tuple[str, str, float]]) -> None:
        """One flush: the tallies of each client, and the polls seen as (poller, client, time)."""
        hour = int(now // HOUR)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            known = {row[0] for row in self.db.execute("SELECT client FROM clients WHERE hour = ?", (hour,))}
            for client, tally in tallies.items():
                self._count(hour, self._admit(client, known), tally)
            self._gaps(hour, sightings, known)
            self._prune(now)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _admit(self, client: str, known: set[str]) -> str:
        if client not in known and len(known) >= MAX_CLIENTS:
            return OTHER
        known.add(client)
        return client

    def _count(self, hour: int, client: str, tally: Tally) -> None:
        self.db.execute(
            "INSERT INTO clients VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, client) DO UPDATE SET"
            " requests = requests + excluded.requests, conditional = conditional + excluded.conditional,"
            " not_modified = not_modified + excluded.not_modified",
            (hour, client, tally.requests, tally.conditional, tally.not_modified))

    def _gaps(self, hour: int, sightings: Sequence[tuple[str, str, float]], known: set[str]) -> None:
        last: dict[str, float] = {}
        seen = {poller for poller, _, _ in sightings}
        for chunk, marks in _chunks(sorted(seen)):
            last.update(self.db.execute(f"SELECT poller, last FROM pollers WHERE poller IN ({marks})", chunk))
        histogram: dict[tuple[str, int], int] = {}
        for poller, client, when in sorted(sightings, key=lambda s: s[2]):
            before = last.get(poller)
            if before is not None and 0 < when - before <= KEPT:
                key = (self._admit(client, known), gap_bucket(when - before))
                histogram[key] = histogram.get(key, 0) + 1
            last[poller] = max(when, before or 0.0)
        self.db.executemany("INSERT INTO gaps VALUES (?, ?, ?, ?) ON CONFLICT (hour, client, bucket) DO UPDATE SET"
                            " count = count + excluded.count",
                            [(hour, client, bucket, count) for (client, bucket), count in histogram.items()])
        self.db.executemany("INSERT INTO pollers VALUES (?, ?) ON CONFLICT (poller) DO UPDATE SET"
                            " last = MAX(last, excluded.last)",
                            [(poller, last[poller]) for poller in seen])

    def _prune(self, now: float) -> None:
        oldest_hour = int((now - KEPT) // HOUR)
        self.db.execute("DELETE FROM clients WHERE hour < ?", (oldest_hour,))
        self.db.execute("DELETE FROM gaps WHERE hour < ?", (oldest_hour,))
        self.db.execute("DELETE FROM pollers WHERE last < ?", (now - KEPT,))
        excess = self.db.execute("SELECT COUNT(*) FROM pollers").fetchone()[0] - MAX_POLLERS
        if excess > 0:
            self.db.execute("DELETE FROM pollers WHERE poller IN (SELECT poller FROM pollers ORDER BY last LIMIT ?)",
                            (excess,))

    def report(self, now: float, hours: int = 24) -> list[ClientReport]:
        """Each client's polling over the last ``hours`` (the current hour included), most requests first."""
        since = int(now // HOUR) - hours + 1
        histograms: dict[str, dict[int, int]] = {}
        for client, bucket, count in self.db.execute(
                "SELECT client, bucket, SUM(count) FROM gaps WHERE hour >= ? GROUP BY client, bucket", (since,)):
            histograms.setdefault(client, {})[bucket] = count
        rows = self.db.execute("SELECT client, SUM(requests), SUM(conditional), SUM(not_modified) FROM clients"
                               " WHERE hour >= ? GROUP BY client ORDER BY SUM(requests) DESC, client", (since,))
        return [ClientReport(client, requests, round(conditional / requests, 3), round(not_modified / requests, 3),
                             median_of(histograms.get(client, {})))
                for client, requests, conditional, not_modified in rows if requests]

    def sizes(self) -> dict[str, int]:
        """Rows per table: what the bounds hold to."""
        return {table: self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("clients", "gaps", "pollers")}
