"""The real server under real clients: feedparser, newsboat, several workers, a live directory."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import feedparser
import pytest

from .conftest import require
from .live import LiveServer, get, wait_for


def write(articles: Path, name: str, title: str, date: str = "2030-01-01 00:00", body: str = "hello") -> Path:
    path = articles / name
    path.write_text(f"---\ntitle: '{title}'\ncategories: [Live]\ndate: {date}\n---\n<p>{body}</p>\n", encoding="utf-8")
    return path


@pytest.fixture
def server(tmp_path: Path, corpus: Path):
    live = LiveServer(tmp_path, corpus).start()
    yield live
    assert live.stop() == 0  # clean shutdown on SIGTERM


def test_feedparser_gets_304_with_its_validators(server: LiveServer) -> None:
    for path in ("/feeds/all.atom", "/feeds/all.rss", "/categories/xin-mei-ti/zaker.rss"):
        first = feedparser.parse(server.url + path)
        assert first.status == 200 and first.bozo == 0 and first.entries
        again = feedparser.parse(server.url + path, etag=first.etag, modified=first.modified)
        assert again.status == 304 and not again.entries
        assert feedparser.parse(server.url + path, modified=first.modified).status == 304


def test_a_default_start_logs_no_warning(server: LiveServer) -> None:
    """An operator reads the start-up lines: nothing there should look like a problem."""
    assert [line for line in server.log if "WARNING" in line] == []


def test_newsboat_reloads_two_feeds_and_gets_304s_on_the_third(server: LiveServer, tmp_path: Path) -> None:
    newsboat = require("newsboat")
    urls = tmp_path / "urls"
    urls.write_text(f"{server.url}/feeds/all.atom\n{server.url}/categories/xin-mei-ti/zaker.rss\n", encoding="utf-8")
    cache = tmp_path / "cache.db"
    (tmp_path / "config").write_text("", encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "dumb"}
    feeds = ("/feeds/all.atom", "/categories/xin-mei-ti/zaker.rss")
    expected = {e.title for path in feeds for e in feedparser.parse(server.url + path).entries}
    for _ in range(3):
        subprocess.run([newsboat, "-u", str(urls), "-c", str(cache), "-C", str(tmp_path / "config"), "-x", "reload"],
                       check=True, env=env, timeout=60, capture_output=True)
    with sqlite3.connect(cache) as db:
        titles = {row[0] for row in db.execute("SELECT title FROM rss_item")}
    assert titles == expected and len(titles) >= 20

    def feed_requests() -> list[str]:  # the access log comes through a pipe: lines can lag the answers
        return [line for line in server.log if any(f'"GET {path} ' in line for path in feeds)]

    wait_for(lambda: len(feed_requests()) >= 2 + 6, timeout=10)
    time.sleep(0.3)  # a request too many would show up by now
    requests = feed_requests()[2:]  # after feedparser's two
    assert len(requests) == 6
    assert all(re.search(r'" 304 ', line) for line in requests[4:]), requests


def test_three_workers_one_scanner_and_every_worker_serves_new_feeds(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus, workers=3).start()
    try:
        assert len([line for line in live.log if "Spawning worker" in line]) == 3
        live.next_scans(1)
        write(corpus, "fresh.md", "Fresh for every worker")
        live.next_scans(2)
        for _ in range(30):  # new connections each time: spread over the workers
            assert get(live.url + "/feeds/all.json")[2].count(b"Fresh for every worker") == 1
        started = len(live.scan_lines())
        time.sleep(4)
        scans = live.scan_lines()
        assert len(scans) - started <= 4 + 1  # one scan per 1 s interval, not one per worker
        assert len({re.search(r"pid (\d+)", line).group(1) for line in scans}) == 1
    finally:
        assert live.stop() == 0


def test_add_edit_same_content_rewrite_and_delete_while_serving(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus, delete_after=0).start()
    try:
        def state() -> tuple[str, list[str]]:
            status, headers, body = get(live.url + "/categories/live.json")
            if status != 200:
                return "", []
            return headers.get("etag", ""), [i["title"] for i in json.loads(body)["items"]]

        path = write(corpus, "a.md", "Added")
        live.next_scans(2)
        etag, titles = state()
        assert titles == ["Added"]
        write(corpus, "a.md", "Edited")
        live.next_scans(2)
        etag2, titles = state()
        assert titles == ["Edited"] and etag2 != etag
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content)
        live.next_scans(2)
        assert state() == (etag2, ["Edited"])  # same bytes: same feed, same ETag
        path.unlink()
        live.next_scans(3)
        assert get(live.url + "/categories/live.json")[0] == 404  # its only article is gone
        assert "Edited" not in get(live.url + "/feeds/all.json")[2].decode()
    finally:
        live.stop()


def test_whole_directory_rewrite_never_loses_an_item(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus, delete_after=10, settle=0.5).start()
    try:
        live.next_scans(1)
        expected = len(live.feed("/feeds/all.json?limit=1000")["items"])
        snapshot = {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
        for path in snapshot:
            path.unlink()
        deadline = time.monotonic() + 4
        counts = []
        for n, (path, content) in enumerate(snapshot.items()):
            path.write_bytes(content)
            counts.append(len(live.feed("/feeds/all.json?limit=1000")["items"]))
            time.sleep(max(0.0, (deadline - time.monotonic()) / (len(snapshot) - n)))
        live.next_scans(3)
        counts.append(len(live.feed("/feeds/all.json?limit=1000")["items"]))
        assert set(counts) == {expected}
        assert live.health()["last_scan"]["changed"] == 0
    finally:
        live.stop()


def test_restart_reuses_the_index(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus).start()
    assert live.stop() == 0
    live.start()
    try:
        wait_for(lambda: live.scan_lines())
        assert " 0 read" in live.scan_lines()[0]
    finally:
        live.stop()
