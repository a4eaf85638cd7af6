"""How much the pages for people weigh: the index page, a feed's page of 20 items, a category's
page and an article's, from a cold build of N generated articles (plain and gzip-compressed,
as nginx's gzip_static sends them). The budgets: a page of 20 items at most 60 KB; / at most
150 KB at 10,000 articles, whatever the tree.

    python bench/pages.py [-n 10000] [--categories 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE)]

from generate import generate  # noqa: E402
from runs import write_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=None, help="a tree of about this many nodes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        root = Path(tmp)
        generate(root / "articles", args.count, categories=args.categories)
        config = write_config(root, root / "articles")
        subprocess.run([sys.executable, "-m", "feedsvc", "build", "--config", str(config), "--out", str(root / "out")],
                       check=True, capture_output=True)
        out = root / "out"
        category = min((p for p in (out / "categories").rglob("*.html") if "_archive" not in p.parts),
                       key=lambda p: (len(p.parts), str(p)))
        pages = {"/": out / "index.html", "/feeds/all (20 items)": out / "feeds/all.html",
                 f"/{category.relative_to(out).with_suffix('')}": category,
                 "an archive page (50 items)": next((out / "feeds/all/_archive").glob("*.html")),
                 "an article": next((out / "articles").glob("*.html"))}
        nodes = len(list((out / "categories").rglob("*.rss")))
        print(f"{args.count} articles, {nodes} category feed documents")
        for name, path in pages.items():
            gz = path.with_name(path.name + ".gz")
            print(f"  {name:32} {path.stat().st_size / 1024:8.1f} KB, gzip {gz.stat().st_size / 1024:6.1f} KB")


if __name__ == "__main__":
    main()
