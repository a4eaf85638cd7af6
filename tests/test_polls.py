"""The polling report (/healthz?clients): per feed reader, over the last day, its requests, the
share that were conditional and answered 304, and the median gap between its polls of one feed;
kept in the state directory across restarts, and bounded however many clients come."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from feedsvc.store import polls as poll_store
from feedsvc.store.polls import MAX_CLIENTS, OTHER, PollLog, Tally
from feedsvc.web.app import create_app
from feedsvc.web.polls import client_name

from .conftest import build_once, make_config
from .live import LiveServer, get, wait_for

NEWSBOAT = "newsboat/2.36.0 (Linux x86_64)"
MINIFLUX = "Mozilla/5.0 (compatible; Miniflux/2.1.3; +https://miniflux.app)"


@pytest.mark.parametrize(("agent", "name"), [
    ("Miniflux/2.0.50 (+https://miniflux.app; Linux)", "Miniflux"),
    (MINIFLUX, "Miniflux"),
    (NEWSBOAT, "newsboat"),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 5 subscribers; like FeedFetcher-Google)", "Feedly"),
    ("Tiny Tiny RSS/21.12 (a3d1ed2) (https://tt-rss.org/)", "Tiny Tiny RSS"),
    ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", "FreshRSS"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "Chrome"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    ("Feedbin feed-id:1373711 - 5 subscribers", "Feedbin"),
    ("python-requests/2.31.0", "python-requests"),
    ("", "(none)"),
    ("\x00\x01", "(none)"),
])
def test_a_user_agent_is_reduced_to_its_product_name(agent: str, name: str) -> None:
    assert client_name(agent) == name


@pytest.fixture
def app(tmp_path: Path, corpus: Path):  # noqa: ANN201
    config = make_config(corpus, tmp_path / "state")
    build_once(config, tmp_path / "out")
    return config


def report(client) -> dict[str, dict]:  # noqa: ANN001
    response = client.get("/healthz?clients")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return {row["client"]: row for row in json.loads(response.data)["clients"]}


def test_each_reader_is_reported_with_its_conditional_and_304_shares_and_it_survives_a_restart(app) -> None:  # noqa: ANN001
    client = create_app(app).test_client()
    first = client.get("/feeds/all.atom", headers={"User-Agent": NEWSBOAT})
    for _ in range(3):  # newsboat comes back with the ETag: 304s
        assert client.get("/feeds/all.atom", headers={"User-Agent": NEWSBOAT,
                                                       "If-None-Match": first.headers["ETag"]}).status_code == 304
    for _ in range(2):  # Miniflux here never sends a validator
        assert client.get("/feeds/all.rss", headers={"User-Agent": MINIFLUX}).status_code == 200
    client.get("/", headers={"User-Agent": NEWSBOAT})  # a page, not a poll of a feed
    found = report(client)
    assert found["newsboat"]["requests"] == 4
    assert found["newsboat"]["conditional"] == 0.75 and found["newsboat"]["not_modified"] == 0.75
    assert (found["Miniflux"]["requests"], found["Miniflux"]["conditional"], found["Miniflux"]["not_modified"]) == (2, 0, 0)
    assert list(found) == ["newsboat", "Miniflux"]  # most requests first
    again = report(create_app(app).test_client())  # a restarted worker reads what was kept
    assert again["newsboat"]["requests"] == 4 and again["Miniflux"]["requests"] == 2


def test_the_median_gap_is_between_polls_of_one_feed_by_one_poller(tmp_path: Path) -> None:
    log = PollLog.open(tmp_path)
    now = time.time()
    # one Miniflux polls every 5 minutes, another every hour; newsboat every day
    sightings = [("mini-a", "Miniflux", now - 3000 + 300 * i) for i in range(10)]
    sightings += [("mini-b", "Miniflux", now - 7200 + 3600 * i) for i in range(3)]
    sightings += [("boat", "newsboat", now - 86400), ("boat", "newsboat", now)]
    log.add(now, {"Miniflux": Tally(13, 13, 10), "newsboat": Tally(2, 0, 0)}, sightings)
    found = {r.client: r for r in log.report(now)}
    assert found["Miniflux"].median_gap == pytest.approx(300, rel=0.1)  # 9 gaps of 5 min, 2 of an hour
    assert found["newsboat"].median_gap == pytest.approx(86400, rel=0.1)
    assert found["Miniflux"].conditional == 1.0 and found["Miniflux"].not_modified == round(10 / 13, 3)
    # a gap spans flushes (and workers): the next poll of mini-a is 5 minutes after its last
    log.add(now + 300, {"Miniflux": Tally(1, 1, 1)}, [("mini-a", "Miniflux", now - 3000 + 300 * 10)])
    assert {r.client: r for r in log.report(now + 300)}["Miniflux"].median_gap == pytest.approx(300, rel=0.1)


def test_the_log_stays_bounded_however_many_clients_and_pollers_come(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poll_store, "MAX_POLLERS", 500)
    log = PollLog.open(tmp_path)
    now = time.time()
    tallies = {f"Bot{n}": Tally(1, 0, 0) for n in range(10_000)}
    log.add(now, tallies, [(f"p{n}", f"Bot{n}", now) for n in range(2_000)])
    found = {r.client: r for r in log.report(now)}
    assert len(found) == MAX_CLIENTS + 1 and found[OTHER].requests == 10_000 - MAX_CLIENTS
    assert log.sizes()["pollers"] == 500
    # two days on, the old hours and pollers are gone
    log.add(now + 3 * 86400, {"newsboat": Tally(1, 0, 0)}, [("boat", "newsboat", now + 3 * 86400)])
    assert log.sizes() == {"clients": 1, "gaps": 0, "pollers": 1}
    assert [r.client for r in log.report(now + 3 * 86400)] == ["newsboat"]


def test_clients_false_turns_the_report_off(tmp_path: Path, corpus: Path) -> None:
    config = make_config(corpus, tmp_path / "state", clients=False)
    build_once(config, tmp_path / "out")
    client = create_app(config).test_client()
    assert client.get("/feeds/all.atom").status_code == 200
    assert client.get("/healthz?clients").status_code == 404
    assert not (tmp_path / "state" / poll_store.DB_NAME).exists()


def test_two_workers_of_serve_add_up_to_every_poll(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus, workers=2).start()
    try:
        status, headers, _ = get(live.url + "/feeds/all.rss", {"User-Agent": NEWSBOAT})
        assert status == 200
        for _ in range(5):
            assert get(live.url + "/feeds/all.rss", {"User-Agent": NEWSBOAT, "If-None-Match": headers["etag"]})[0] == 304
        for _ in range(4):
            get(live.url + "/feeds/all.json", {"User-Agent": MINIFLUX})

        def added_up() -> dict | None:  # each worker hands its polls to the log within seconds
            found = {row["client"]: row for row in json.loads(get(live.url + "/healthz?clients")[2])["clients"]}
            done = found.get("newsboat", {}).get("requests") == 6 and found.get("Miniflux", {}).get("requests") == 4
            return found if done else None

        found = wait_for(added_up, timeout=60)
        assert isinstance(found, dict)
        assert found["newsboat"]["not_modified"] == round(5 / 6, 3)
        assert found["Miniflux"]["conditional"] == 0.0
    finally:
        live.stop()
