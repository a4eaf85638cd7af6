"""Category-tree benchmark: 10,000 articles in the mirror's shape (about 120 category nodes) and
filed under a 1,000-node tree (1-4 paths each, 3 levels), built with the real CLI.

    python bench/categories.py [-n 10000] [--categories 1000]

Prints, for each scenario, the cold `feedsvc build`, a `feedsvc build` after one article was
edited and one with nothing changed, beside the bare start-up of `feedsvc --help` measured in
the same run; the figures to read are those "above start-up". Nothing is asserted: the
machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE)]

from generate import generate  # noqa: E402
from runs import FEEDSVC, median, quiet_file_creation, startup, timed, touch_one, write_config  # noqa: E402


def scenario(root: Path, count: int, categories: int | None, archives: bool) -> dict[str, Any]:
    source, out = root / "articles", root / "out"
    generate(source, count, categories=categories)
    config = write_config(root, source, f"feeds:\n  limit: 100\n  archives: {str(archives).lower()}\n")
    build = [*FEEDSVC, "build", "--config", str(config), "--out", str(out)]
    cold = timed(build)
    one_change, no_change, started = [], [], []
    for _ in range(7):  # alternating, so all see the same noise
        touch_one(source)
        one_change.append(timed(build))
        no_change.append(timed(build))
        started.append(startup())
    feeds = [p for p in out.rglob("*.atom") if "_archive" not in p.parts]
    return {"feeds": len(feeds), "pages": len(list(out.rglob("_archive/*.atom.gz"))), "cold": cold,
            "one_change": median(one_change), "no_change": median(no_change), "startup": median(started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--no-archives", dest="archives", action="store_false",
                        help="feeds.archives: false (the RFC 5005 archive pages are most of a cold build's work)")
    args = parser.parse_args()
    rows = {}
    # one folder for both, deleted at the end: the second scenario's cold build is not slowed
    # down by the first's deleted files (see runs.quiet_file_creation)
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        quiet = quiet_file_creation(Path(tmp) / "probes")
        for name, categories in (("mirror shape", None), (f"{args.categories}-node tree", args.categories)):
            (Path(tmp) / name).mkdir()
            rows[name] = scenario(Path(tmp) / name, args.count, categories, args.archives)
    print(f"{args.count} articles, archives {'on' if args.archives else 'off'}; {quiet}; seconds, wall / CPU"
          " (user + system); no-change and --help: medians of 7 alternating runs")
    print(f"{'scenario':16} {'feeds':>6} {'pages':>6} {'cold build':>13} {'one change':>11} {'no-change':>11}"
          f" {'--help':>11} {'above start-up: one change':>27} {'no-change':>11}")
    for name, r in rows.items():
        (cw, cc), (ow, oc), (nw, nc), (sw, sc) = r["cold"], r["one_change"], r["no_change"], r["startup"]
        print(f"{name:16} {r['feeds']:6} {r['pages']:6} {cw:6.2f} /{cc:6.2f} {ow:5.2f} /{oc:5.2f} {nw:5.2f} /{nc:5.2f}"
              f" {sw:5.2f} /{sc:5.2f} {ow - sw:19.2f} /{oc - sc:5.2f} {nw - sw:5.2f} /{nc - sc:5.2f}")


if __name__ == "__main__":
    main()
