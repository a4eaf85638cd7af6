"""Timing the real CLI, for the benchmarks: the figures the budgets name are seconds "above
start-up", a `feedsvc` command's wall and CPU beside those of `feedsvc --help` in the same run."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

FEEDSVC = [sys.executable, "-m", "feedsvc"]

# as installed: byte-compiled modules are written and reused (this machine's shell sets
# PYTHONDONTWRITEBYTECODE, which would add the compiling of every module to every start)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child's own) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def startup() -> tuple[float, float]:
    """One run of the bare start-up the budgets measure from."""
    return timed([*FEEDSVC, "--help"])
