"""RSSHub's URL filters on every feed: the items each parameter keeps, computed here from the
articles the test writes (or the fixture files' folders), never from feedsvc's own output."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from feedsvc.web.app import create_app
from feedsvc.web.cache import MAX_VIEWS

from .conftest import REAL, build_once, make_config

NOW = datetime.now(UTC)
POSTS = [  # (file, title, author, categories, tags, body, age in hours)
    ("a.md", "Rust 2024 edition released", "alice", "[编程, Rust]", "[release]", "A new edition of Rust.", 1),
    ("b.md", "Python 3.13 is out", "bob", "[编程, Python]", "[release, python]", "Free threading arrives.", 5),
    ("c.md", "直播电商的新玩法", "carol", "[新媒体, 36氪]", "[电商]", "直播带货继续增长。", 30),
    ("d.md", "Weekly links: rust and go", "alice", "[博客]", "[links]", "Some Rust, some Go.", 50),
    ("e.md", "广告：限时优惠", "ads", "[新媒体, 广告]", "[ad]", "买买买", 2),
    ("f.md", "PYTHON tips", "dave", "[编程, Python]", "[tips]", "Use pathlib.", 100),
    ("g.md", "简体中文的标题", "erin", "[博客]", "[中文]", "这是简体中文写的正文，汉字与发展。", 3),
    ("h.md", "a" * 3000 + "!", "mallory", "[博客]", "[]", "x", 4),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("filters")
    src = root / "src"
    src.mkdir()
    for name, title, author, categories, tags, body, hours in POSTS:
        date = (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (src / name).write_text(f"---\ntitle: \"{title}\"\nauthor: {author}\ncategories: {categories}\ntags: {tags}\n"
                                f"date: {date}\n---\n<p>{body}</p>\n", encoding="utf-8")
    config = make_config(src, root / "state", feeds={"limit": 50}, filters={"regex_max": 64})
    build_once(config, root / "out")
    return create_app(config).test_client()


def titles(client, query: str, fmt: str = "json") -> list[str]:  # noqa: ANN001
    response = client.get(f"/feeds/all.{fmt}?{query}")
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json["items"]]


def expected(keep) -> list[str]:  # noqa: ANN001
    """The titles of the posts ``keep`` accepts, newest first, as the test's own data says."""
    return [p[1] for p in sorted(POSTS, key=lambda p: p[6]) if keep(p)]


@pytest.mark.parametrize(("query", "keep"), [
    ("filter=rust", lambda p: re.search("rust", p[1] + p[5])),
    ("filter=Rust|Python", lambda p: re.search("Rust|Python", p[1] + p[5])),
    ("filter_title=^Python", lambda p: re.search("^Python", p[1])),
    ("filter_description=pathlib|增长", lambda p: re.search("pathlib|增长", p[5])),
    ("filter_author=^alice$", lambda p: p[2] == "alice"),
    ("filter_category=^编程$", lambda p: "编程" in p[3]),
    ("filter_category=release", lambda p: "release" in p[4]),
    ("filterout_category=广告", lambda p: "广告" not in p[3]),
    ("filterout=rust", lambda p: not re.search("rust", p[1] + p[5])),
    ("filter=python&filter_case_sensitive=false", lambda p: re.search("python", p[1] + p[5], re.IGNORECASE)),
    ("filter_category=编程&filterout_title=tips", lambda p: "编程" in p[3] and "tips" not in p[1]),
    ("filter_time=86400", lambda p: p[6] < 24),
    ("filter_time=86400&filter_author=alice", lambda p: p[6] < 24 and p[2] == "alice"),
    ("unknown=1&filter_title=Weekly", lambda p: p[1].startswith("Weekly")),
])
def test_each_parameter_keeps_the_items_rsshub_would(client, query: str, keep) -> None:  # noqa: ANN001
    assert titles(client, query) == expected(keep)


def test_limit_with_a_filter_counts_the_items_kept(client) -> None:  # noqa: ANN001
    assert titles(client, "filter_category=编程&limit=2") == expected(lambda p: "编程" in p[3])[:2]


def test_the_real_mirrors_posts_by_category(tmp_path: Path) -> None:
    config = make_config(REAL, tmp_path / "state", feeds={"limit": 50})
    build_once(config, tmp_path / "out")
    client = create_app(config).test_client()
    for site_type in ("编程", "新媒体", "二次元"):
        on_disk = len(list((REAL / site_type).rglob("*.md")))
        got = client.get(f"/feeds/all.json?filter_category=^{site_type}$").json["items"]
        assert len(got) == on_disk > 0, site_type


def test_brief_cuts_plain_text_and_opencc_converts_titles_and_content(client) -> None:  # noqa: ANN001
    items = client.get("/feeds/all.json?filter_title=^简体&opencc=s2t").json["items"]
    assert [i["title"] for i in items] == ["簡體中文的標題"] and "簡體中文" in items[0]["content_html"]
    briefed = client.get("/feeds/all.json?brief=100&filter_author=mallory").json["items"][0]
    assert len(briefed["content_html"]) < 130 and "<" not in briefed["content_html"][3:-4]
    assert client.get("/feeds/all.json?brief=99").status_code == 400
    assert client.get("/feeds/all.json?opencc=x2y").status_code == 400


def test_a_catastrophic_regex_answers_at_once_and_a_lookbehind_is_a_400_naming_it(client) -> None:  # noqa: ANN001
    started = time.monotonic()
    assert titles(client, "filter_title=(a%2B)%2B$") == []  # (a+)+$ on 3,000 a's and a '!': backtracking never ends
    assert time.monotonic() - started < 5  # RE2 is linear: milliseconds, whatever the machine is doing
    for query, param in (("filter_title=(?<=a)b", "filter_title"), ("filterout=" + "x" * 65, "filterout"),
                         ("filter_time=soon", "filter_time")):
        response = client.get(f"/feeds/all.rss?{query}")
        assert response.status_code == 400 and response.text.startswith(f"400 {param}:"), response.text


def test_a_filtered_view_is_a_feed_of_its_own(client) -> None:  # noqa: ANN001
    plain = client.get("/feeds/all.atom")
    view = client.get("/feeds/all.atom?filter_author=alice")
    assert view.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/feeds/all.atom?filter_author=alice", headers={"If-None-Match": view.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    parsed = feedparser.parse(view.data)
    assert parsed.bozo == 0 and len(parsed.entries) == 2
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "https://feeds.example.com/feeds/all.atom?filter_author=alice"
    assert b"prev-archive" not in view.data and b'rel="hub"' not in view.data
    rss = feedparser.parse(client.get("/feeds/all.rss?filter_author=alice").data)
    assert rss.bozo == 0 and len(rss.entries) == 2
    assert client.get("/feeds/all.json?filter_author=alice").json["feed_url"].endswith("all.json?filter_author=alice")


def test_thousands_of_distinct_queries_never_evict_the_plain_feeds(client) -> None:  # noqa: ANN001
    cache = client.application.extensions["feedsvc"]
    client.get("/feeds/all.rss")
    for n in range(MAX_VIEWS + 100):
        assert client.get(f"/feeds/all.json?filter_title=x{n}").status_code == 200
    assert len(cache.views) <= MAX_VIEWS
    assert any(key.startswith("/feeds/all.rss") for key in cache.entries)
