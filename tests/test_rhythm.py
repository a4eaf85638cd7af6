"""Cache hints from each feed's own rhythm: feeds whose items come every 5 minutes, daily and
weekly tell readers to come back after a quarter of their gap, within the configured bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from feedsvc.web.app import create_app

from .conftest import build_once, make_config

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def write_feed(src: Path, category: str, every: timedelta, count: int = 10) -> None:
    for n in range(count):
        date = (START - n * every).strftime("%Y-%m-%dT%H:%M:%SZ")
        (src / f"{category}-{n}.md").write_text(f"---\ntitle: {category} {n}\ncategories: [{category}]\ndate: {date}\n"
                                                f"---\n<p>{n}</p>\n", encoding="utf-8")


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("rhythm")
    src = root / "src"
    src.mkdir()
    write_feed(src, "minutes", timedelta(minutes=5))
    write_feed(src, "daily", timedelta(days=1))
    write_feed(src, "weekly", timedelta(weeks=1))
    write_feed(src, "once", timedelta(days=1), count=1)
    clients = {}
    for name, high in (("wide", 86400), ("default", None)):
        config = make_config(src, root / f"state-{name}", feeds={"cache_max_seconds": high} if high else {})
        build_once(config, root / f"out-{name}")
        clients[name] = create_app(config).test_client()
    return clients


@pytest.mark.parametrize(("category", "bounds", "max_age", "period", "frequency"), [
    ("minutes", "wide", 300, "hourly", "12"),  # a quarter of 5 minutes is under the floor: 300 s
    ("daily", "wide", 21600, "daily", "1"),  # a quarter day
    ("weekly", "wide", 86400, "weekly", "1"),  # a quarter week, capped at the ceiling
    ("daily", "default", 3600, "daily", "1"),  # the default ceiling: an hour
    ("once", "default", 300, None, None),  # one item: no rhythm yet
])
def test_each_feed_is_polled_at_its_own_pace(feeds, category: str, bounds: str, max_age: int,  # noqa: ANN001
                                            period: str | None, frequency: str | None) -> None:
    client = feeds[bounds]
    rss = client.get(f"/categories/{category}.rss")
    assert rss.headers["Cache-Control"] == f"public, max-age={max_age}"
    parsed = feedparser.parse(rss.data)
    assert parsed.bozo == 0 and parsed.feed.ttl == str(max_age // 60)
    assert parsed.feed.get("sy_updateperiod") == period and parsed.feed.get("sy_updatefrequency") == frequency
    again = client.get(f"/categories/{category}.rss", headers={"If-None-Match": rss.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Retry-After"] == str(max_age)
    atom = client.get(f"/categories/{category}.atom")
    assert atom.headers["Cache-Control"] == f"public, max-age={max_age}"  # the same pace in every format
