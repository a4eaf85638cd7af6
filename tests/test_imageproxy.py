"""The image proxy: only signed URLs, only public addresses (unless allowed), limits, caching."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import feedparser
import pytest

from feedsvc.images.fetch import FetchError, Limits, fetch, guarded_connect, is_public
from feedsvc.images.proxy import ImageCache
from feedsvc.ops.scheduler import scan_once
from feedsvc.urls import proxy_url, sign, verify
from feedsvc.web.app import create_app

from .conftest import SEED, make_config
from .origin import PNG, Origin

KEY = "test-key"
LOCAL = Limits(max_bytes=1024 * 1024, connect_timeout=2, total_timeout=2, allow_private=True)


@pytest.fixture
def origin():
    with Origin() as server:
        yield server


def test_signatures_verify_only_with_the_key() -> None:
    url = "http://zkres1.myzaker.com/202109/a_1024.jpg?x=1&y=中"
    path = proxy_url("https://feeds.example.com", KEY, url)
    signature, encoded = path.rsplit("/", 2)[1:]
    assert verify(KEY, signature, encoded) == url
    assert verify("other-key", signature, encoded) is None
    assert verify(KEY, sign(KEY, "http://evil.example/"), encoded) is None
    assert verify(KEY, signature, "!!not base64!!") is None


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1",
    "240.0.0.1", "100.64.0.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
])
def test_guard_refuses_non_public_addresses(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_guard_allows_public_addresses(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "[::1]",
                                  "::ffff:127.0.0.1"])
def test_guard_refuses_loopback_in_any_spelling_before_connecting(host: str) -> None:
    with pytest.raises(FetchError) as caught:
        guarded_connect(host.strip("[]"), 9, timeout=1, allow_private=False)
    assert caught.value.status == 403


def test_fetch_sends_no_referer_unless_mapped(origin: Origin) -> None:
    assert fetch(origin.url + "/hotlink.png", {}, LOCAL).body == PNG
    path, headers = origin.requests[-1]
    assert "referer" not in headers and headers["user-agent"].startswith("feedsvc-image-proxy/")
    fetch(origin.url + "/hotlink.png", {"127.0.0.1": "https://origin.example/"}, LOCAL)
    assert origin.requests[-1][1]["referer"] == "https://origin.example/"


@pytest.mark.parametrize(("path", "status"), [
    ("/slow.png", 504), ("/huge.png", 502), ("/page.html", 502), ("/missing.png", 404), ("/loop.png", 502),
])
def test_fetch_limits(origin: Origin, path: str, status: int) -> None:
    with pytest.raises(FetchError) as caught:
        fetch(origin.url + path, {}, LOCAL)
    assert caught.value.status == status


def test_redirects_are_followed_and_each_hop_is_guarded(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fetch(origin.url + "/redirect/img/a.png", {}, LOCAL).body == PNG
    # Let the guard take the local origin for a public host, so only the redirect is private.
    from feedsvc.images import fetch as imagefetch

    real = imagefetch.is_public
    monkeypatch.setattr(imagefetch, "is_public", lambda address: address == "127.0.0.1" or real(address))
    guarded = Limits(connect_timeout=2, total_timeout=2, allow_private=False)
    assert fetch(origin.url + "/redirect/img/b.png", {}, guarded).body == PNG
    with pytest.raises(FetchError) as caught:
        fetch(origin.url + "/to-private.png", {}, guarded)
    assert caught.value.status == 403 and "10.0.0.1" in str(caught.value)
    with pytest.raises(FetchError) as caught:
        fetch("file:///etc/passwd", {}, LOCAL)
    assert caught.value.status == 403


def test_cache_fetches_each_image_once_even_under_concurrency(origin: Origin, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images", {}, LOCAL)
    url = origin.url + "/img/once.png"
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(url).path.read_bytes())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [PNG] * 8
    assert [p for p, _ in origin.requests].count("/img/once.png") == 1


def test_cache_evicts_least_recently_used(origin: Origin, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images", {}, LOCAL, max_bytes=len(PNG) * 2)
    first = cache.get(origin.url + "/img/1.png").path
    cache.get(origin.url + "/img/2.png")
    cache.get(origin.url + "/img/1.png")  # used again: now the most recent
    cache.get(origin.url + "/img/3.png")
    assert first.exists() and not cache._paths(origin.url + "/img/2.png")[0].exists()


def test_failures_are_remembered_briefly_not_refetched(origin: Origin, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images", {}, LOCAL)
    for _ in range(3):
        with pytest.raises(FetchError):
            cache.get(origin.url + "/missing.png")
    assert [p for p, _ in origin.requests].count("/missing.png") == 1


def proxy_setup(tmp_path: Path, origin: Origin, allow_private: bool = True):
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "seed.txt").write_bytes(re.sub(rb"http://zkres\d\.myzaker\.com", origin.url.encode(), SEED.read_bytes()))
    config = make_config(articles, tmp_path / "state", scan={"settle": 0},
                         images={"mode": "proxy", "proxy_key": KEY, "proxy_allow_private": allow_private,
                                 "proxy_timeout": 2})
    scan_once(config)
    return config, create_app(config).test_client()


def test_every_image_of_every_format_goes_through_the_proxy(tmp_path: Path, origin: Origin) -> None:
    config, client = proxy_setup(tmp_path, origin)
    atom = feedparser.parse(client.get("/feeds/all.atom").data)
    rss = client.get("/feeds/all.rss").text
    json_feed = client.get("/feeds/all.json").json
    entry = atom.entries[0]
    urls = [entry.media_thumbnail[0]["url"], json_feed["items"][0]["image"]]
    urls += re.findall(r'src="([^"]+)"', entry.content[0].value)
    urls += re.findall(r'<enclosure url="([^"]+)"', rss)
    assert len(urls) >= 4 and origin.url not in rss and origin.url not in str(json_feed)
    for url in urls:
        assert url.startswith("https://feeds.example.com/img/")
        with client.get(url.removeprefix("https://feeds.example.com")) as response:
            assert response.status_code == 200 and response.data == PNG, (url, response.data[:200])
            assert response.content_type == "image/png"
            assert "immutable" in response.headers["Cache-Control"] and response.headers["ETag"]
            etag = response.headers["ETag"]
        with client.get(url.removeprefix("https://feeds.example.com"), headers={"If-None-Match": etag}) as again:
            assert again.status_code == 304


def test_the_static_export_writes_the_same_signed_urls(tmp_path: Path, origin: Origin) -> None:
    from feedsvc.ops.export import export
    from feedsvc.store import Store

    config, client = proxy_setup(tmp_path, origin)
    index = Store.open(config.state_dir)
    export(index, config, tmp_path / "site")
    index.close()
    exported = (tmp_path / "site" / "feeds" / "all.atom").read_bytes()
    assert exported == client.get("/feeds/all.atom").data
    assert exported.count(b"https://feeds.example.com/img/") >= 3 and origin.url.encode() not in exported


def test_unsigned_and_forged_urls_are_403_without_an_upstream_request(tmp_path: Path, origin: Origin) -> None:
    _, client = proxy_setup(tmp_path, origin)
    before = len(origin.requests)
    forged = proxy_url("", "wrong-key", origin.url + "/img/x.png")
    assert client.get(forged).status_code == 403
    assert client.get("/img/abc/def").status_code == 403
    assert len(origin.requests) == before


def test_with_the_guard_on_a_local_origin_is_refused(tmp_path: Path, origin: Origin) -> None:
    _, client = proxy_setup(tmp_path, origin, allow_private=False)
    url = feedparser.parse(client.get("/feeds/all.atom").data).entries[0].media_thumbnail[0]["url"]
    response = client.get(url.removeprefix("https://feeds.example.com"))
    assert response.status_code == 403 and origin.requests == []


def test_live_server_in_proxy_mode_serves_every_image_from_the_origin(tmp_path: Path, origin: Origin) -> None:
    from .live import LiveServer, get

    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "seed.txt").write_bytes(re.sub(rb"http://zkres\d\.myzaker\.com", origin.url.encode(), SEED.read_bytes()))
    live = LiveServer(tmp_path, articles, extra_yaml=f"images: {{mode: proxy, proxy_key: {KEY}, proxy_allow_private: true}}\n")
    live.start()
    try:
        for path in ("/feeds/all.atom", "/feeds/all.rss"):
            parsed = feedparser.parse(live.url + path)
            entry = parsed.entries[0]
            urls = [entry.media_thumbnail[0]["url"], *re.findall(r'src="([^"]+)"', entry.content[0].value)]
            urls += [link.href for link in entry.get("enclosures", [])]
            assert len(urls) >= 3
            for url in urls:
                assert url.startswith(live.url + "/img/")
                status, headers, body = get(url)
                assert (status, headers["content-type"], body) == (200, "image/png", PNG)
    finally:
        live.stop()
