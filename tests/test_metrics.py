"""/metrics: Prometheus' text format, parsed with prometheus_client's own parser, counting exactly
what clients were answered across every web worker of a real `feedsvc serve`."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from feedsvc.web.app import create_app

from .conftest import build_once, make_config
from .live import LiveServer, get, wait_for


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def requests(found: dict, status: str, conditional: str) -> float:
    labels = (("conditional", conditional), ("format", "atom"), ("kind", "feed"), ("status", status))
    return found.get(("feedsvc_requests_total", labels), 0.0)


def test_counters_rise_by_exactly_the_200s_and_304s_served_by_two_workers(tmp_path: Path, corpus: Path) -> None:
    live = LiveServer(tmp_path, corpus, workers=2).start()
    try:
        wait_for(lambda: live.health()["articles"] == 25)
        status, headers, _ = get(live.url + "/feeds/all.atom")
        etag = headers["etag"]
        # once every worker has added up its answers so far (that first GET among them)
        before = wait_for(lambda: (found := samples(get(live.url + "/metrics")[2].decode()))
                          and requests(found, "200", "false") >= 1 and found)
        assert isinstance(before, dict)
        for _ in range(7):
            assert get(live.url + "/feeds/all.atom")[0] == 200
        for _ in range(5):
            assert get(live.url + "/feeds/all.atom", {"If-None-Match": etag})[0] == 304

        def counted() -> dict | None:  # each worker adds its answers up within a second
            found = samples(get(live.url + "/metrics")[2].decode())
            done = requests(found, "304", "true") - requests(before, "304", "true") >= 5
            return found if done and requests(found, "200", "false") - requests(before, "200", "false") >= 7 else None

        after = wait_for(counted, timeout=30)
        assert isinstance(after, dict)
        assert requests(after, "200", "false") - requests(before, "200", "false") == 7
        assert requests(after, "304", "true") - requests(before, "304", "true") == 5
        assert after[("feedsvc_articles", ())] == 25
        assert after[("feedsvc_scans_total", (("result", "ok"),))] >= 1  # counted by the scanner's process
        assert after[("feedsvc_scan_files_read_total", ())] >= 25
        sent = after[("feedsvc_response_bytes_total", (("kind", "feed"),))]
        assert sent - before.get(("feedsvc_response_bytes_total", (("kind", "feed"),)), 0) >= 7 * 1000
        assert not any("/feeds/" in value for key in after for _, value in key[1])  # no paths in labels
    finally:
        live.stop()


def test_metrics_false_turns_the_endpoint_off(tmp_path: Path, corpus: Path) -> None:
    on = make_config(corpus, tmp_path / "state")
    build_once(on, tmp_path / "out")
    assert create_app(on).test_client().get("/metrics").status_code == 200
    off = make_config(corpus, tmp_path / "state", metrics=False)
    assert create_app(off).test_client().get("/metrics").status_code == 404
