"""Build benchmark: feedsvc against a naive baseline on the same generated corpus.

    python bench/build.py [-n 10000]

For each of feedsvc and the baseline (bench/naive.py) it times, each in a fresh process:
a cold build, a rebuild with nothing changed, and a rebuild after one file changed, and
reports the peak memory of the process (and of its worker processes). Then the figures the
budgets name: `feedsvc build` from the command line with nothing changed and after one edit,
each beside the bare start-up (`feedsvc --help`), medians of alternating runs. And, when
Debian's `hugo` is installed, Hugo's cold build of the same corpus, the megabytes each wrote,
a cold feedsvc build set to write what the Hugo site writes, and the floor under a cold build
of feedsvc's default output (bench/floor.py); and the bytes of the cold build's export and
state, per part (bench/disk.py). Figures are printed, never
asserted: this machine is shared, so compare the columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import disk  # noqa: E402
import floor  # noqa: E402
from runs import FEEDSVC, median, megabytes, quiet_file_creation, startup, timed, touch_one, write_config  # noqa: E402


def phase_feedsvc(source: Path, work: Path) -> None:
    from feedsvc.config import parse_config
    from feedsvc.ingest.scan import scan
    from feedsvc.ops.export import export
    from feedsvc.store import Store

    config = parse_config({"sources": [{"path": str(source)}], "state_dir": str(work / "state"),
                           "site": {"timezone": "Asia/Shanghai"}})
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    export(index, config, work / "out")
    index.close()


def phase_naive(source: Path, work: Path) -> None:
    import naive

    naive.build(source, work / "naive-out")


def run_phase(system: str, source: Path, work: Path) -> dict:
    """Run one build in a fresh interpreter; seconds exclude interpreter start and imports."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--phase", system, str(source), str(work)],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def _child(system: str, source: Path, work: Path) -> None:
    import feedgen.feed  # noqa: F401 - imports are not what is measured
    import yaml  # noqa: F401

    if system == "feedsvc":
        import feedsvc.ingest.scan  # noqa: F401
        import feedsvc.ops.export  # noqa: F401
    started = time.perf_counter()
    (phase_feedsvc if system == "feedsvc" else phase_naive)(source, work)
    seconds = time.perf_counter() - started
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime  # every process, imports included
    kernel = me.ru_stime + children.ru_stime  # the kernel's share: creating and writing files, mostly
    print(json.dumps({"seconds": seconds, "cpu": cpu, "system": kernel, "peak_mb": me.ru_maxrss / 1024,
                      "worker_peak_mb": children.ru_maxrss / 1024}))


def above_startup(source: Path, work: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """`feedsvc build` (the state and export of the phases above, the same settings) after one
    edit and with nothing changed, and `feedsvc --help`, alternating: medians of wall and CPU."""
    config = write_config(work, source)
    build = [*FEEDSVC, "build", "--config", str(config), "--out", str(work / "out")]
    timed(build)  # the phases' last edit, if the CLI sees anything left of it
    runs: dict[str, list[tuple[float, float]]] = {"one file changed": [], "no-change rebuild": [], "start-up": []}
    for _ in range(rounds):
        touch_one(source)
        runs["one file changed"].append(timed(build))
        runs["no-change rebuild"].append(timed(build))
        runs["start-up"].append(startup())
    return {step: median(times) for step, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="feedsvc build benchmark")
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7, help="alternating command-line runs (medians)")
    parser.add_argument("--phase", nargs=3, metavar=("SYSTEM", "SOURCE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.phase[0], Path(args.phase[1]), Path(args.phase[2]))
        return
    import hugo
    from generate import generate

    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        source, work = Path(tmp) / "articles", Path(tmp) / "work"
        work.mkdir()
        generate(source, args.count)
        print(f"{args.count} generated articles, {os.cpu_count()} cores; {quiet_file_creation(Path(tmp) / 'probes')}")
        anchor = None
        if hugo.available():  # first: the peak memory of children is the largest so far
            hugo.convert(source, Path(tmp) / "hugo-site")
            anchor = hugo.build(Path(tmp) / "hugo-site", Path(tmp) / "hugo-out")
        else:
            print("hugo is not installed (apt-get install hugo): no anchor in this run")
        rows = {}
        for step in ("cold build", "no-change rebuild", "one file changed"):
            if step == "one file changed":
                touch_one(source)
            rows[step] = {system: run_phase(system, source, work) for system in ("feedsvc", "naive")}
            if step == "cold build":  # what it wrote: the export and the index (naive writes elsewhere)
                written = {part: megabytes(work / part) for part in ("out", "state")}
                on_disk = disk.describe(work / "out", work / "state", source)
        report(rows, args.count)
        print(f"after the cold build (default config), {on_disk}")
        cli = above_startup(source, work, args.rounds)
        base_wall, base_cpu = cli.pop("start-up")
        print(f"feedsvc from the command line, medians of {args.rounds} alternating runs, wall / CPU s:"
              f" start-up (feedsvc --help) {base_wall:.3f} / {base_cpu:.3f}")
        for step, (wall, cpu) in cli.items():
            print(f"  {step:18} {wall:.3f} / {cpu:.3f}: above start-up {wall - base_wall:.3f} / {cpu - base_cpu:.3f}")
        if anchor:
            compare_with_hugo(anchor, rows["cold build"]["feedsvc"], written, source, work)
            print_floor(anchor, source, work / "out", Path(tmp) / "floor", written["out"], rows["cold build"]["feedsvc"])


# what the Hugo site writes: RSS only, 20 summaries per category node, no archive pages, no tags
LIKE_HUGO = "feeds:\n  formats: [rss]\n  content: summary\n  archives: false\n  tags: false\n"


def compare_with_hugo(anchor: dict, cold: dict, written: dict[str, float], source: Path, work: Path) -> None:
    """feedsvc's cold build beside Hugo's, then feedsvc from the command line, cold, set to
    write what Hugo writes: the defaults write many times Hugo's bytes (full content, three
    formats, archive pages), and the kernel's share of a cold build is mostly writing them."""
    print(f"hugo cold build (RSS per category node, a page per post): {anchor['wall']:.2f} s wall,"
          f" {anchor['cpu']:.2f} s CPU, {anchor['peak_mb']:.0f} MB peak, {anchor['feeds']} feeds,"
          f" {anchor['mb']:.0f} MB written; feedsvc {cold['wall']:.2f} s wall = {cold['wall'] / anchor['wall']:.2f}x"
          f" hugo's, {written['out'] + written['state']:.0f} MB written (export {written['out']:.0f}, index"
          f" {written['state']:.0f})")
    like = work / "like-hugo"
    like.mkdir()
    config = write_config(like, source, LIKE_HUGO)
    wall, cpu = timed([*FEEDSVC, "build", "--config", str(config), "--out", str(like / "out")])
    mb = megabytes(like / "out") + megabytes(like / "state")
    print(f"feedsvc set to write what hugo writes (RSS only, summaries, no archive pages, no tag feeds), from the"
          f" command line, cold: {wall:.2f} s wall = {wall / anchor['wall']:.2f}x hugo's, {cpu:.2f} s CPU, {mb:.0f} MB written")


def print_floor(anchor: dict, source: Path, export: Path, scratch: Path, export_mb: float, cold: dict) -> None:
    """The floor writes a copy of the export: at 100k, 25 GB more than the run holds already."""
    free_mb = shutil.disk_usage(scratch.parent).free / 1e6
    if free_mb < 1.1 * export_mb:
        print(f"floor under a cold build (bench/floor.py) not measured: {free_mb / 1000:.0f} GB free, the copy of the"
              f" export needs {export_mb / 1000:.0f} GB")
        return
    least = floor.floor(source, export, scratch)
    print(f"floor under a cold build of feedsvc's default output (bench/floor.py): {floor.describe(least)}"
          f" = {least['wall'] / anchor['wall']:.2f}x hugo's wall; feedsvc's cold build {cold['wall']:.2f} s ="
          f" {cold['wall'] / least['wall']:.2f}x the floor")


def report(rows: dict, count: int) -> None:
    """CPU: user + system of every process of the run (the parse workers too)."""
    print(f"{'':20} {'feedsvc s':>10} {'(wall)':>8} {'CPU s':>7} {'(system)':>8} {'ms/article':>10} {'naive s':>9}"
          f" {'(wall)':>8} {'speed-up':>9} {'feedsvc MB':>11} {'workers MB':>11} {'naive MB':>9}")
    for step, r in rows.items():
        f, n = r["feedsvc"], r["naive"]
        print(f"{step:20} {f['seconds']:10.2f} {f['wall']:8.2f} {f['cpu']:7.2f} {f['system']:8.2f}"
              f" {1000 * f['cpu'] / count:10.2f}"
              f" {n['seconds']:9.2f} {n['wall']:8.2f} {n['seconds'] / f['seconds']:8.1f}x {f['peak_mb']:11.0f}"
              f" {f['worker_peak_mb']:11.0f} {n['peak_mb']:9.0f}")


if __name__ == "__main__":
    main()
