"""The anchor: the same generated corpus as a Hugo site, built by Debian's ``hugo``.

Each article becomes ``content/posts/<n>.html`` (front matter with an RFC 3339 date, the HTML
body as it is) filed under every node of its category path (``新媒体``, ``新媒体/ZAKER``, …), so
Hugo writes an RSS feed per node, as feedsvc does, and a page per post.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import yaml
from runs import megabytes

CONFIG = """baseURL = "http://127.0.0.1:8080/"
title = "bench"
[taxonomies]
  category = "categories"
[services.rss]
  limit = 20
[markup.goldmark.renderer]
  unsafe = true
"""
SINGLE = "<!doctype html><title>{{ .Title }}</title><h1>{{ .Title }}</h1>{{ .Content }}\n"
LIST = ("<!doctype html><title>{{ .Title }}</title>"
        '<ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>\n')


def available() -> bool:
    return shutil.which("hugo") is not None


def convert(source: Path, site: Path) -> int:
    """Write the Hugo site for the articles in ``source``; returns how many."""
    posts = site / "content" / "posts"
    posts.mkdir(parents=True)
    (site / "config.toml").write_text(CONFIG, encoding="utf-8")
    for name, text in (("single.html", SINGLE), ("list.html", LIST)):
        (site / "layouts" / "_default").mkdir(parents=True, exist_ok=True)
        (site / "layouts" / "_default" / name).write_text(text, encoding="utf-8")
    count = 0
    for count, path in enumerate(sorted(source.rglob("*.md")), 1):
        _, header, body = path.read_text(encoding="utf-8").split("---\n", 2)
        meta = yaml.safe_load(header)
        names = [str(n) for n in meta["categories"]]
        nodes = ["/".join(names[: i + 1]) for i in range(len(names))]
        date = meta["date"] if isinstance(meta["date"], datetime) else parsedate_to_datetime(meta["date"])
        front = {"title": str(meta["title"]), "date": (date if date.tzinfo else date.replace(tzinfo=UTC)).isoformat(),
                 "categories": nodes}
        (posts / f"{count:06d}.html").write_text(f"{json.dumps(front, ensure_ascii=False)}\n{body}", encoding="utf-8")
    return count


def build(site: Path, out: Path) -> dict[str, float]:
    """One ``hugo`` build: wall and CPU seconds, the peak memory of this script's children so far
    (run it first to get Hugo's own), the feeds it wrote and the megabytes of all it wrote."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["hugo", "--quiet", "--source", str(site), "--destination", str(out)], check=True,
                   capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024, "feeds": len(list(out.rglob("index.xml"))), "mb": megabytes(out)}
