"""WebSub: the feeds name their hubs, and after a scan each hub hears of exactly the feed URLs
whose bytes changed, once each; a hub that is down is retried and logged, and never holds up a
scan or a request."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from lxml import etree

from feedsvc.config import Config
from feedsvc.feeds.catalog import document, feed_specs
from feedsvc.ops.push import Pusher
from feedsvc.ops.scheduler import scan_once
from feedsvc.render import site
from feedsvc.store import Store
from feedsvc.urls import absolute, feed_path
from feedsvc.web.app import create_app

from .conftest import make_config

CHANNELS = [{"slug": "tech", "title": "Tech", "categories": ["编程", "ZAKER"]},
            {"slug": "live", "title": "Live commerce", "match": "直播|电商"}]
NEW_POST = """---
title: '直播带货的新规则'
categories:
 - 新媒体
 - ZAKER
 - channel
tags: [电商]
date: Sat, 01 Jul 2023 08:00:00 GMT
---
<p>主播们要守新的规则。</p>
"""


class Hub:
    """A WebSub hub on 127.0.0.1 that records publish pings; it can refuse the first few."""

    def __init__(self, refuse: int = 0) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.refuse = refuse
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if hub.refuse > 0:
                    hub.refuse -= 1
                    self.send_response(503)
                else:
                    hub.pings.append(form)
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def topics(self) -> Counter[str]:
        assert all(ping["hub.mode"] == ["publish"] for ping in self.pings)
        return Counter(url for ping in self.pings for url in ping["hub.url"])


@pytest.fixture
def hub() -> Iterator[Hub]:
    running = Hub()
    yield running
    running.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_for(corpus: Path, tmp_path: Path, hubs: list[str]) -> Config:
    return make_config(corpus, tmp_path / "state", channels=CHANNELS, scan={"settle": 0}, push={"hubs": hubs},
                       feeds={"archive_size": 5})


def every_feed(config: Config) -> dict[str, bytes]:
    """URL -> bytes of every feed as served now (the oracle: what a hub would fetch)."""
    index = Store.open(config.state_dir, readonly=True)
    try:
        return {absolute(config.site.url, feed_path(spec, fmt)):
                site.feed_page(index, config, document(spec, config), fmt).body  # type: ignore[arg-type]
                for spec in feed_specs(index, config) for fmt in config.feeds.formats}
    finally:
        index.close()


def test_feeds_name_their_hubs(corpus: Path, tmp_path: Path) -> None:
    config = config_for(corpus, tmp_path, ["https://hub.example.net/", "https://hub2.example.net/"])
    scan_once(config)
    client = create_app(config).test_client()
    atom = client.get("/feeds/all.atom")
    assert atom.headers["Link"] == ('<https://hub.example.net/>; rel="hub", <https://hub2.example.net/>; rel="hub",'
                                    ' <https://feeds.example.com/feeds/all.atom>; rel="self"')
    hubs = etree.fromstring(atom.data).findall("{http://www.w3.org/2005/Atom}link[@rel='hub']")
    assert [h.get("href") for h in hubs] == ["https://hub.example.net/", "https://hub2.example.net/"]
    rss = etree.fromstring(client.get("/categories/xin-mei-ti.rss").data)
    assert len(rss.findall("channel/{http://www.w3.org/2005/Atom}link[@rel='hub']")) == 2
    feed = json.loads(client.get("/feeds/all.json").data)
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example.net/"},
                            {"type": "WebSub", "url": "https://hub2.example.net/"}]


def test_a_new_article_pings_exactly_the_feeds_whose_bytes_changed(corpus: Path, tmp_path: Path, hub: Hub) -> None:
    config = config_for(corpus, tmp_path, [hub.url])
    pusher = Pusher(config.push.hubs)
    scan_once(config, pusher=pusher)  # the first scan records where things stand: nobody to tell yet
    assert pusher.drain(10) and hub.pings == []
    before = every_feed(config)
    (corpus / "新媒体" / "ZAKER" / "channel").mkdir(parents=True, exist_ok=True)
    (corpus / "新媒体" / "ZAKER" / "channel" / "直播带货.md").write_text(NEW_POST, encoding="utf-8")
    scan_once(config, pusher=pusher)
    assert pusher.drain(10)
    after = every_feed(config)
    changed = {url for url, body in after.items() if before.get(url) != body}
    assert set(hub.topics()) == changed and max(hub.topics().values()) == 1
    site_url = config.site.url
    for path in ("/feeds/all", "/feeds/tech", "/feeds/live", "/categories/xin-mei-ti", "/categories/xin-mei-ti/zaker",
                 "/categories/xin-mei-ti/zaker/channel", "/tags/dian-shang"):
        assert {f"{site_url}{path}.{fmt}" for fmt in ("rss", "atom", "json")} <= changed, path
    assert not any("/categories/tu-pian" in url for url in changed)  # another branch of the tree
    # a scan that changes nothing tells nobody anything
    scan_once(config, pusher=pusher)
    assert pusher.drain(10) and sum(hub.topics().values()) == len(changed)


def test_a_hub_that_fails_is_retried_until_it_takes_the_ping(corpus: Path, tmp_path: Path) -> None:
    hub = Hub(refuse=2)
    try:
        pusher = Pusher((hub.url,), first_delay=0.05)
        pusher.publish(["https://feeds.example.com/feeds/all.atom"])
        assert pusher.drain(10)
        assert hub.topics() == Counter({"https://feeds.example.com/feeds/all.atom": 1}) and hub.refuse == 0
    finally:
        hub.stop()


def test_an_unreachable_hub_is_logged_and_the_feeds_keep_serving(corpus: Path, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="feedsvc.push")
    config = config_for(corpus, tmp_path, [f"http://127.0.0.1:{closed_port()}/hub"])
    pusher = Pusher(config.push.hubs, first_delay=0.2)
    scan_once(config, pusher=pusher)
    (corpus / "新的.md").write_text(NEW_POST, encoding="utf-8")
    assert scan_once(config, pusher=pusher) is not None  # the scan is done while the pings still wait
    assert pusher.due or pusher.busy
    client = create_app(config).test_client()
    assert "直播带货的新规则" in client.get("/feeds/all.atom").get_data(as_text=True)
    assert pusher.drain(30)
    assert "retrying in 0.2 s" in caplog.text
    assert "gave up telling" in caplog.text and "after 6 attempts" in caplog.text


def test_a_running_server_pings_the_hub_when_the_watcher_sees_a_new_article(corpus: Path, tmp_path: Path,
                                                                              hub: Hub) -> None:
    from .live import LiveServer, get, wait_for

    server = LiveServer(tmp_path, corpus, workers=1, extra_yaml=f"push: {{hubs: ['{hub.url}']}}\n", interval=3600)
    server.start()
    try:
        (corpus / "直播带货.md").write_text(NEW_POST, encoding="utf-8")
        tag_feeds = {f"{server.url}/tags/dian-shang.{fmt}" for fmt in ("rss", "atom", "json")}
        # one ping at a time: wait for the last of those this test looks at
        wait_for(lambda: {f"{server.url}/feeds/all.atom", *tag_feeds} <= set(hub.topics()), timeout=30)
        status, headers, body = get(f"{server.url}/feeds/all.atom")  # the hub fetches the new bytes
        assert status == 200 and "直播带货的新规则" in body.decode()
        assert f'<{hub.url}>; rel="hub"' in headers["link"]
        assert max(hub.topics().values()) == 1
    finally:
        server.stop()
