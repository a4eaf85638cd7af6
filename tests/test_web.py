"""The web app as aggregators use it: conditional GET, gzip, types, redirects, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import feedparser
import pytest
from flask.testing import FlaskClient

from feedsvc.ops.export import export
from feedsvc.ops.scheduler import scan_once
from feedsvc.store import Store
from feedsvc.web.app import create_app

from .conftest import make_config


@pytest.fixture
def setup(corpus: Path, tmp_path: Path):
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0, "delete_after": 0},
                         category_slugs={"新媒体": "xinmeiti"}, feeds={"cache_seconds": 600, "limit": 10},
                         channels=[{"slug": "tech", "title": "Tech", "categories": ["编程"]}])
    return config, create_app(config).test_client()


def scanned(setup) -> FlaskClient:
    config, client = setup
    scan_once(config)
    return client


def test_healthz_is_503_before_the_first_scan_then_reports(setup) -> None:
    config, client = setup
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "starting"
    scan_once(config)
    health = client.get("/healthz").json
    assert health["articles"] == 25 and health["files_in_error"] == []
    assert health["last_scan"]["files"] == 25 and health["feeds"] % 3 == 0


def test_feeds_have_types_validators_and_cache_control(setup) -> None:
    client = scanned(setup)
    for path, ctype in (("/feeds/all.rss", "application/rss+xml"), ("/feeds/all.atom", "application/atom+xml"),
                        ("/feeds/tech.json", "application/feed+json"), ("/categories/xinmeiti.atom", "application/atom+xml")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.content_type == f"{ctype}; charset=utf-8"
        max_age = int(response.headers["Cache-Control"].removeprefix("public, max-age="))
        assert 600 <= max_age <= 3600  # feeds.cache_seconds up to cache_max_seconds: the feed's own pace
        assert response.headers["ETag"].startswith('"') and response.headers["Last-Modified"]
        assert "Accept-Encoding" in response.headers["Vary"]
    rss = client.get("/feeds/all.rss")
    assert f"<ttl>{int(rss.headers['Cache-Control'].rpartition('=')[2]) // 60}</ttl>" in rss.text


def test_served_bytes_equal_the_exported_file(setup, tmp_path: Path) -> None:
    config, client = setup
    scan_once(config)
    index = Store.open(config.state_dir)
    export(index, config, tmp_path / "site")
    index.close()
    for url, path in (("/feeds/all.atom", "feeds/all.atom"), ("/categories/xinmeiti.rss", "categories/xinmeiti.rss"),
                      ("/feeds/tech.json", "feeds/tech.json"), ("/opml.xml", "opml.xml"), ("/", "index.html"),
                      ("/feed.xsl", "feed.xsl")):
        assert client.get(url).data == (tmp_path / "site" / path).read_bytes(), path
    article = next(p for p in (tmp_path / "site" / "articles").glob("*.html"))
    assert client.get(f"/articles/{article.stem}").data == article.read_bytes()


def test_conditional_get(setup) -> None:
    client = scanned(setup)
    first = client.get("/feeds/all.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    not_modified = client.get("/feeds/all.atom", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == etag
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": modified}).status_code == 304
    # If-None-Match wins when both are sent
    both = client.get("/feeds/all.atom", headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert both.status_code == 200
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": "Mon, 01 Jan 2018 00:00:00 GMT"}).status_code == 200
    assert client.get("/feeds/all.atom", headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304


def test_gzip_when_accepted(setup) -> None:
    client = scanned(setup)
    plain = client.get("/feeds/all.rss")
    zipped = client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert gzip.decompress(zipped.data) == plain.data and len(zipped.data) < len(plain.data) / 2
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert client.get("/feeds/all.rss", headers={"If-None-Match": zipped.headers["ETag"],
                                                 "Accept-Encoding": "gzip"}).status_code == 304
    assert "Content-Encoding" not in client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip;q=0"}).headers


def test_head_has_headers_and_no_body(setup) -> None:
    client = scanned(setup)
    for _ in range(2):  # rendering, then from the cache
        head = client.head("/feeds/all.atom")
        assert head.status_code == 200 and head.data == b""
        assert int(head.headers["Content-Length"]) == len(client.get("/feeds/all.atom").data)
        assert head.headers["ETag"] == client.get("/feeds/all.atom").headers["ETag"]


def test_category_name_redirects_to_its_slug(setup) -> None:
    client = scanned(setup)
    for path in ("/categories/新媒体.rss", "/categories/%E6%96%B0%E5%AA%92%E4%BD%93.rss"):
        response = client.get(path)
        assert response.status_code == 301 and response.headers["Location"].endswith("/categories/xinmeiti.rss")
    assert client.get("/categories/二次元/Animen 动漫平台.atom").headers["Location"].endswith(
        "/categories/er-ci-yuan/animen-dong-man-ping-tai.atom")
    assert client.get("/categories/Animen 动漫平台.atom").status_code == 404  # a name, but not a path from the root


def test_unknown_feeds_and_articles_are_short_404s(setup) -> None:
    client = scanned(setup)
    for path in ("/feeds/nope.rss", "/feeds/all.xml", "/categories/nope.atom", "/articles/nope",
                 "/categories/../../etc/passwd", "/feeds/..%2F..%2Fetc%2Fpasswd.rss"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.content_type.startswith("text/plain") and len(response.data) < 100


def test_limit_parameter_is_capped_by_config(setup) -> None:
    client = scanned(setup)
    assert len(feedparser.parse(client.get("/feeds/all.atom?limit=3").data).entries) == 3
    assert len(feedparser.parse(client.get("/feeds/all.atom?limit=500").data).entries) == 10
    assert client.get("/feeds/all.atom?limit=abc").status_code == 400


def test_article_pages_index_and_opml(setup) -> None:
    client = scanned(setup)
    entry = feedparser.parse(client.get("/feeds/all.atom").data).entries[0]
    page = client.get(entry.link.replace("https://feeds.example.com", ""))
    assert page.status_code == 200 and entry.title.replace("&", "&amp;") in page.text
    assert page.content_type == "text/html; charset=utf-8"
    index = client.get("/")
    assert 'type="application/rss+xml"' in index.text and "categories/xinmeiti.rss" in index.text
    opml = client.get("/opml.xml")
    assert opml.status_code == 200 and b'<opml version="2.0">' in opml.data


def test_a_request_never_rerenders_an_unchanged_feed(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    client = scanned(setup)
    client.get("/feeds/all.atom")
    from feedsvc.render import site

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(site, "feed_page", fail)
    for _ in range(3):
        assert client.get("/feeds/all.atom").status_code == 200


def test_changes_show_after_the_next_scan_and_etag_follows_content(setup, corpus: Path) -> None:
    config, client = setup
    scan_once(config)
    etag = client.get("/feeds/all.json").headers["ETag"]
    scan_once(config)
    assert client.get("/feeds/all.json").headers["ETag"] == etag  # a scan that changed nothing
    (corpus / "new.md").write_text("---\ntitle: Brand new\ndate: 2030-01-01 00:00\n---\nhello\n", encoding="utf-8")
    scan_once(config)
    response = client.get("/feeds/all.json")
    assert response.headers["ETag"] != etag and json.loads(response.data)["items"][0]["title"] == "Brand new"


CHROME_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
# a reader that takes HTML too, at the lowest preference: it wants the feed
READER_ACCEPT = ("application/rss+xml, application/rdf+xml;q=0.8, application/atom+xml;q=0.6, application/xml;q=0.4,"
                 " text/xml;q=0.4, text/html;q=0.2")


def test_browsers_get_a_readable_page_and_feed_readers_the_feed(setup) -> None:
    client = scanned(setup)
    browser = client.get("/feeds/all.atom", headers={"Accept": CHROME_ACCEPT})
    assert browser.content_type == "text/html; charset=utf-8"
    assert "<h1>Test mirror</h1>" in browser.text and "https://feeds.example.com/feeds/all.atom" in browser.text
    assert browser.headers["Vary"] == "Accept, Accept-Encoding"
    readers = (None, "*/*", "application/atom+xml,application/rdf+xml,application/rss+xml,application/xml;q=0.9,"
               "text/xml;q=0.2,*/*;q=0.1", READER_ACCEPT)
    for accept in readers:
        reader = client.get("/feeds/all.atom", headers={"Accept": accept} if accept else {})
        assert reader.content_type == "application/atom+xml; charset=utf-8", accept
    assert client.get("/feeds/all.json", headers={"Accept": CHROME_ACCEPT}).content_type.startswith("application/feed+json")
    # the same answers once the feed is cached (served before Flask's routing), each Accept
    # value told apart from the others as they alternate, a long one too
    for _ in range(2):
        assert client.get("/feeds/all.atom", headers={"Accept": CHROME_ACCEPT}).content_type.startswith("text/html")
        assert client.get("/feeds/all.atom", headers={"Accept": READER_ACCEPT}).content_type.startswith("application/atom")
        assert client.get("/feeds/all.atom").content_type.startswith("application/atom+xml")
    long_browser = CHROME_ACCEPT + ", application/x-" + "y" * 600 + ";q=0.1"
    assert client.get("/feeds/all.atom", headers={"Accept": long_browser}).content_type.startswith("text/html")


def test_a_failing_scan_is_logged_and_the_last_good_feeds_stay(setup, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    config, client = setup
    scan_once(config)
    before = client.get("/feeds/all.atom").data
    from feedsvc.ingest import scan as scan_module

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(scan_module, "list_sources", broken)
    assert scan_once(config) is None
    assert "scan failed; the last good feeds stay online" in caplog.text and "disk on fire" in caplog.text
    assert client.get("/feeds/all.atom").data == before
    assert client.get("/healthz").json["articles"] == 25


def test_only_one_scan_at_a_time(setup) -> None:
    from feedsvc.atomic import scan_lock

    config, _ = setup
    with scan_lock(config.state_dir) as held:
        assert held
        assert scan_once(config) is None  # another scanner holds the state directory
    assert scan_once(config) is not None


def test_the_page_cache_is_bounded(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    import feedsvc.web.cache

    monkeypatch.setattr(feedsvc.web.cache, "MAX_ENTRIES", 5)
    config, _ = setup
    app = create_app(config)
    client = app.test_client()
    scan_once(config)
    links = [e.link for e in feedparser.parse(client.get("/feeds/all.atom?limit=10").data).entries]
    for link in links:
        assert client.get(link.replace("https://feeds.example.com", "")).status_code == 200
    assert len(app.extensions["feedsvc"].entries) == 5
    assert client.get("/feeds/all.atom").status_code == 200
