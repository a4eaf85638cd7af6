"""Rhythm: how often a feed changes, from the dates of its own items, and the cache hints that
follow from it (pure: dates in, hints out).

The rule (also in the README): the feed's *gap* is the median time between its consecutive
items' dates. Readers are told to come back after a quarter of that gap, which finds a new
item on average an eighth of a gap after it appeared, bounded by ``feeds.cache_seconds`` below
and ``feeds.cache_max_seconds`` above: ``Cache-Control: max-age``, RSS ``<ttl>`` (in minutes)
and the ``Retry-After`` of a 304 say so. The gap itself is published as RSS's syndication
module says: ``sy:updatePeriod`` is the shortest of hourly, daily, weekly, monthly and yearly
that holds a gap, ``sy:updateFrequency`` how many gaps it holds. A feed of fewer than two
dated items has no rhythm: the lower bound, and no ``sy:`` elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PERIODS = (("hourly", 3600), ("daily", 86400), ("weekly", 7 * 86400), ("monthly", 30 * 86400), ("yearly", 365 * 86400))
POLLS_PER_GAP = 4


@dataclass(frozen=True)
class Rhythm:
    max_age: int  # seconds
    gap: float | None = None  # the median seconds between updates; None: too few items to tell

    @property
    def ttl(self) -> int:
        """RSS ``<ttl>``: minutes, at least one."""
        return max(self.max_age // 60, 1)

    @property
    def update(self) -> tuple[str, int] | None:
        """(``sy:updatePeriod``, ``sy:updateFrequency``), or None without a gap."""
        if self.gap is None:
            return None
        gap = max(self.gap, 1.0)
        name, seconds = next(((n, s) for n, s in PERIODS if gap <= s), PERIODS[-1])
        return name, max(round(seconds / gap), 1)


def rhythm(dates: Sequence[datetime], low: int, high: int) -> Rhythm:
    """The rhythm of a feed whose items are dated ``dates`` (any order)."""
    ordered = sorted(dates)
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(ordered, ordered[1:], strict=False)]
    if not gaps:
        return Rhythm(low)
    gap = _median(gaps)
    return Rhythm(min(max(int(gap / POLLS_PER_GAP), low), max(high, low)), gap)


def _median(values: list[float]) -> float:
    """``statistics.median``: importing statistics (fractions, decimal, random) took 5 ms of
    every build that writes a feed, for this one call."""
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
