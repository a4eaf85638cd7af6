"""Timing the real CLI, for the benchmarks: the figures the budgets name are seconds "above
start-up", a `feedsvc` command's wall and CPU beside those of `feedsvc --help` in the same run."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def write_config(folder: Path, source: Path, extra: str = "") -> Path:
    """A feedsvc config in ``folder`` (its state in ``folder/state``) for the articles in
    ``source``, dated in the generator's timezone; ``extra``: more YAML, whole top-level keys."""
    config = folder / "feedsvc.yaml"
    config.write_text(f"sources:\n  - path: {source}\nstate_dir: {folder / 'state'}\nsite:\n  timezone: Asia/Shanghai\n"
                      + extra, encoding="utf-8")
    return config


def megabytes(folder: Path) -> float:
    """The bytes of every file below ``folder``, in MB."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def touch_one(source: Path) -> None:
    """Edit one article of a generated corpus (its title), as a writer would."""
    path = min(source.rglob("*.md"))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: '", "title: 'Edited ", 1), encoding="utf-8")


def startup() -> tuple[float, float]:
    """One run of the bare start-up the budgets measure from."""
    return timed([*FEEDSVC, "--help"])


def file_creation_cost(folder: Path, count: int = 500) -> float:
    """Microseconds of CPU to create one empty file in ``folder``, a new folder (the files stay:
    deleting them would slow down what is created next)."""
    folder.mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for name in range(count):
        os.close(os.open(folder / str(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / count * 1e6


def quiet_file_creation(folder: Path, most: float = 100, patience: float = 420) -> str:
    """Wait until creating a file in ``folder`` costs at most ``most`` microseconds (or
    ``patience`` seconds have passed); says how long it took. On ext4 without a journal, as on
    this VM, the inode allocator looks up, and skips, each inode freed in the last minute (in
    the last six while its block is not yet written back): for six minutes after 60,000 files
    were deleted, creating one took 570–930 us of CPU instead of 22, and a cold 10k build
    creates 25,600. The benchmarks delete their outputs, so a run started soon after another
    could time that run's clean-up instead of its own build."""
    started, probes = time.monotonic(), 0
    while True:
        cost = file_creation_cost(folder / f"probe-{probes}")
        probes, waited = probes + 1, time.monotonic() - started
        if cost <= most or waited > patience:
            return f"creating a file: {cost:.0f} us of CPU (waited {waited:.0f} s for files deleted earlier to age)"
        time.sleep(20)
