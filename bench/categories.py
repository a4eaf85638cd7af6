"""Category-tree benchmark: 10,000 articles in the mirror's shape (about 120 category nodes) and
filed under a 1,000-node tree (1-4 paths each, 3 levels), built with the real CLI.

    python bench/categories.py [-n 10000] [--categories 1000]

Prints, for each scenario, the cold `feedsvc build` and a `feedsvc build` with nothing changed,
beside the bare start-up of `feedsvc --help` measured in the same run; the figure to read is
"no-change above start-up". Nothing is asserted: the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE)]

from generate import generate  # noqa: E402

FEEDSVC = [sys.executable, "-m", "feedsvc"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def scenario(root: Path, count: int, categories: int | None) -> dict[str, float]:
    source, state, out = root / "articles", root / "state", root / "out"
    generate(source, count, categories=categories)
    config = root / "feedsvc.yaml"
    config.write_text(f"site:\n  timezone: Asia/Shanghai\nsources:\n  - path: {source}\nstate_dir: {state}\n"
                      "feeds:\n  limit: 100\n", encoding="utf-8")
    build = [*FEEDSVC, "build", "--config", str(config), "--out", str(out)]
    cold = timed(build)
    no_change = [timed(build) for _ in range(5)]
    startup = [timed([*FEEDSVC, "--help"]) for _ in range(5)]
    nodes = len({p.parent.relative_to(out) for p in (out / "categories").rglob("*.atom")} |
                {p.with_suffix("").relative_to(out) for p in (out / "categories").rglob("*.atom")})
    feeds = len(list(out.rglob("*.atom")))
    return {"feeds": feeds, "nodes": nodes, "cold": cold, "no_change": statistics.median(no_change),
            "startup": statistics.median(startup)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=1000)
    args = parser.parse_args()
    rows = {}
    for name, categories in (("mirror shape", None), (f"{args.categories}-node tree", args.categories)):
        with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
            rows[name] = scenario(Path(tmp), args.count, categories)
    print(f"{args.count} articles; medians of 5 runs; seconds of wall time")
    print(f"{'scenario':18} {'feeds':>6} {'cold build':>11} {'no-change':>10} {'--help':>7} {'no-change above start-up':>25}")
    for name, r in rows.items():
        print(f"{name:18} {r['feeds']:6} {r['cold']:11.2f} {r['no_change']:10.2f} {r['startup']:7.2f}"
              f" {r['no_change'] - r['startup']:25.2f}")


if __name__ == "__main__":
    main()
