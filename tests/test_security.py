"""Nothing outside the sources is published, no file stalls the scanner, and hostile input is
bounded: the security probe's cases (issue 27's numbering), each from its reproduction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from feedsvc.config import Source, parse_config
from feedsvc.errors import ArticleError, ConfigError
from feedsvc.images.fetch import is_public
from feedsvc.images.proxy import ImageCache
from feedsvc.ingest import sources
from feedsvc.ingest.scan import scan
from feedsvc.ingest.sources import stat_paths
from feedsvc.parse.articles import parse_article
from feedsvc.store import LastScan, Store
from feedsvc.urls import proxy_url
from feedsvc.web.app import create_app

from .conftest import make_config
from .origin import PNG, Origin
from .test_imageproxy import KEY, LOCAL

SECRET = "OUTSIDE-SECRET"
MTIME = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = parse_config({"sources": [{"path": "."}], "site": {"url": "https://feeds.example.com"}})


def write(path: Path, title: str, front: str = "", body: str = "<p>body</p>") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {title}\n{front}---\n{body}\n", encoding="utf-8")
    return path


def everything_published(out: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file())


def test_1_a_path_through_a_symlinked_folder_is_not_an_article_the_watcher_may_report(tmp_path: Path) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    src.mkdir()
    secret = write(outside / "secret.md", SECRET)
    (src / "outlink").symlink_to("../outside")
    mine = write(src / "mine.md", "mine")
    # what the watcher hands over: it follows the symlinked folder
    listing = stat_paths((Source(src),), {str(src / "outlink" / "secret.md"), str(mine)})
    assert [row[0] for row in listing.rows] == [str(mine)]
    assert secret.exists()


@pytest.mark.parametrize("swap", ["file", "folder"])
def test_2_a_symlink_swapped_in_between_listing_and_reading_is_never_read(tmp_path: Path, swap: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    for n in range(3):
        write(src / f"a{n}.md", f"article {n}")
    write(src / "sub" / "zzzz.md", "last")
    write(outside / "zzzz.md", SECRET, body=f"<p>{SECRET}</p>")
    (outside / "passwd.md").symlink_to("/etc/passwd")
    listed = sources.list_sources

    def list_then_swap(*args: object) -> sources.Listing:
        listing = listed(*args)  # type: ignore[arg-type]
        # ln -sfn TARGET src/x.tmp && mv -T src/x.tmp src/x: atomic, after the walk saw a file
        if swap == "file":
            (src / "sub" / "tmp").symlink_to(outside / "zzzz.md")
            os.replace(src / "sub" / "tmp", src / "sub" / "zzzz.md")
        else:
            (src / "tmp").symlink_to(outside)
            os.rename(src / "sub", tmp_path / "sub-old")
            os.replace(src / "tmp", src / "sub")
        return listing

    monkeypatch.setattr("feedsvc.ingest.scan.list_sources", list_then_swap)
    config = make_config(src, tmp_path / "state")
    index = Store.open(config.state_dir)
    try:
        report = scan(index, config, settle=0)
        problems = {p.path: p.message for p in index.problems()}
    finally:
        index.close()
    assert report.errors == 1
    assert any("symlink" in message for message in problems.values()), problems
    from feedsvc.ops.export import export

    index = Store.open(config.state_dir)
    try:
        export(index, config, tmp_path / "out")
    finally:
        index.close()
    published = everything_published(tmp_path / "out")
    assert SECRET not in published and "root:x:0:0" not in published
    assert "article 2" in published


def test_2_reads_refuse_symlinks_fifos_and_dot_dot_anywhere_below_the_source(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write(root / "ok" / "a.md", "fine")
    (root / "link.md").symlink_to(root / "ok" / "a.md")
    (root / "dirlink").symlink_to(root / "ok")
    os.mkfifo(root / "pipe.md")
    assert sources.read_beneath(str(root), "ok/a.md", 100).startswith(b"---")
    for relpath in ("link.md", "dirlink/a.md", "pipe.md", "ok/../ok/a.md"):
        with pytest.raises(OSError):
            sources.read_beneath(str(root), relpath, 100)


BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))


def test_3_an_alias_bomb_in_date_is_an_error_naming_the_reason_not_a_stall(tmp_path: Path) -> None:
    raw = f"---\ntitle: bomb\n{BOMB}date: *a9\n---\nbody\n".encode()
    with pytest.raises(ArticleError, match="aliases expand it past"):
        parse_article(raw, "bomb.md", MTIME, CONFIG)
    with pytest.raises(ArticleError, match="refers to itself"):
        parse_article(b"---\ntitle: loop\ndate: &d [*d]\n---\nx", "loop.md", MTIME, CONFIG)
    # aliases within the budget are YAML like any other
    shared = parse_article(b"---\ntitle: ok\ntags: &t [a, b]\nkeywords: *t\n---\nx", "ok.md", MTIME, CONFIG)
    assert shared.tags == ("a", "b")


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real process, bounded in time: a bomb that got through would hang, not fail."""
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], capture_output=True, text=True, timeout=timeout)


def test_3_a_build_beside_an_alias_bomb_publishes_the_rest_and_names_the_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "good.md", "good one")
    (src / "bomb.md").write_text(f"---\ntitle: bomb\n{BOMB}date: *a9\n---\nbody\n", encoding="utf-8")
    config = tmp_path / "feedsvc.yaml"
    config.write_text(f"sources: [{{path: '{src}'}}]\nstate_dir: '{tmp_path / 'state'}'\n", encoding="utf-8")
    result = run_cli("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "bomb.md: front matter: its aliases expand it past" in result.stderr
    assert "1 in error" in result.stderr
    titles = [e.title for e in feedparser.parse((tmp_path / "out/feeds/all.atom").read_bytes()).entries]
    assert titles == ["good one"]


@pytest.mark.parametrize("where", ["feedsvc", "permalink", "category_map"])
def test_10_alias_bombs_in_configs_stop_check_with_the_file_named(tmp_path: Path, where: str) -> None:
    src = tmp_path / "src"
    write(src / "good.md", "good one")
    hexo = tmp_path / "_config.yml"
    bomb = BOMB + ("permalink: *a9\n" if where == "permalink" else "category_map: {x: *a9}\n")
    hexo.write_text("url: https://blog.example.com\n" + bomb, encoding="utf-8")
    config = tmp_path / "feedsvc.yaml"
    text = f"sources: [{{path: '{src}', hexo: '{hexo}'}}]\nstate_dir: '{tmp_path / 'state'}'\n"
    config.write_text(text + (BOMB + "x: *a9\n" if where == "feedsvc" else ""), encoding="utf-8")
    result = run_cli("check", "--config", str(config))
    assert result.returncode != 0
    named = config if where == "feedsvc" else hexo
    assert str(named) in result.stderr and "aliases expand it past" in result.stderr
    assert "Traceback" not in result.stderr


def test_9_front_matter_images_are_http_urls_or_nothing() -> None:
    for bad in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd",
                "JAVASCRIPT:alert(1)", "http://a b/", "vbscript:x"):
        for key in ("image", "thumbnail", "cover", "headimg", "banner"):
            article = parse_article(f'---\ntitle: t\n{key}: "{bad}"\n---\nx'.encode(), "a.md", MTIME, CONFIG)
            assert article.image == "" and any("not an http(s) URL" in w for w in article.warnings), (key, bad)
    spaced = parse_article(b'---\ntitle: t\nimage: "http://img.example/a b.png"\n---\nx', "a.md", MTIME, CONFIG)
    assert spaced.image == "http://img.example/a%20b.png"


def test_9_no_feed_carries_a_hostile_image_url(tmp_path: Path, built) -> None:  # noqa: ANN001
    src = tmp_path / "src"
    for n, bad in enumerate(["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd"]):
        write(src / f"a{n}.md", f"a{n}", front=f'image: "{bad}"\n')
    out = built(src)
    published = everything_published(out).lower()
    assert "javascript:" not in published and "file:///" not in published and "data:text" not in published


def test_11_huge_numbers_in_limit_or_an_archive_page_are_answered_not_a_500(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for n in range(3):
        write(src / f"a{n}.md", f"a{n}")
    config = make_config(src, tmp_path / "state")
    from .conftest import build_once

    build_once(config, tmp_path / "out")
    client = create_app(config).test_client()
    digits = "9" * 5000
    response = client.get(f"/feeds/all.json?limit={digits}")
    assert response.status_code == 200 and len(response.json["items"]) == 3
    assert client.get("/feeds/all.json?limit=0").status_code == 400
    for path in (f"/feeds/all/_archive/{digits}.json", f"/tags/x/_archive/{digits}.rss"):
        response = client.get(path)
        assert response.status_code == 404 and len(response.data) < 200


def test_12_html_pages_forbid_scripts_framing_sniffing_and_referrers(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a.md", "a")
    config = make_config(src, tmp_path / "state")
    from .conftest import build_once

    build_once(config, tmp_path / "out")
    client = create_app(config).test_client()
    article = client.get("/").text.split('href="https://feeds.example.com/articles/')[1].split('"')[0]
    for path in ("/", f"/articles/{article}"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
        assert "style-src 'self'" in policy and "unsafe-inline" not in policy  # the site's stylesheet only
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    feed = client.get("/feeds/all.atom")
    assert "Content-Security-Policy" not in feed.headers  # a feed is not a page: its XSLT preview needs none


def test_13_html_nested_past_libxml2s_depth_keeps_what_follows_and_says_so() -> None:
    body = "<p>before</p>" + "<div><span>" * 1500 + "deep" + "</span></div>" * 1500 + "<p>after the depth</p>"
    article = parse_article(f"---\ntitle: deep\n---\n{body}".encode(), "deep.html", MTIME, CONFIG)
    assert "after the depth" in article.content and "deep" in article.content
    assert any("nested deeper than" in w for w in article.warnings)


def test_14_nfc_and_nfd_spellings_are_one_name_and_invisible_controls_go(tmp_path: Path, built) -> None:  # noqa: ANN001
    src = tmp_path / "src"
    name = "Café"
    nfc, nfd = unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)
    write(src / "one.md", "One", front=f"categories: [{nfc}]\n")
    write(src / "two.md", "Two", front=f"categories: [{nfd}]\n")
    write(src / "three.md", "\u202egnp.exe\u200b Three", front="tags: [\u200bzero, \u202eright]\n")
    out = built(src)
    opml = (out / "opml.xml").read_text(encoding="utf-8")
    assert opml.count("xmlUrl=\"https://feeds.example.com/categories/") == 1 and nfd not in opml  # one category feed
    atom = feedparser.parse((out / "feeds/all.atom").read_bytes())
    titles = {e.title for e in atom.entries}
    assert "gnp.exe Three" in titles
    assert not any(c in (out / "feeds/all.atom").read_text(encoding="utf-8") for c in "\u202e\u200b")


def test_14_two_files_whose_names_differ_only_in_normal_form_are_an_error_a_build_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / (unicodedata.normalize("NFC", "é") + ".md"), "composed")
    write(src / (unicodedata.normalize("NFD", "é") + ".md"), "decomposed")
    config = tmp_path / "feedsvc.yaml"
    config.write_text(f"sources: [{{path: '{src}'}}]\nstate_dir: '{tmp_path / 'state'}'\n", encoding="utf-8")
    result = run_cli("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert "duplicate id" in result.stderr and "1 in error" in result.stderr
    assert run_cli("check", "--config", str(config)).returncode == 1


def test_15_six_to_four_teredo_and_nat64_addresses_are_judged_by_the_ipv4_inside() -> None:
    for private in ("2002:7f00:1::1", "2002:c0a8:101::1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
                    "2001:0:4136:e378:8000:63bf:80ff:fffe"):
        assert not is_public(private), private
    assert is_public("2002:808:808::1") and is_public("64:ff9b::808:808")


@pytest.fixture
def origin():
    with Origin() as server:
        yield server


def test_15_one_image_has_one_proxy_path_and_its_type_is_never_taken_verbatim(tmp_path: Path, origin: Origin) -> None:
    src = tmp_path / "src"
    write(src / "a.md", "a")
    config = make_config(src, tmp_path / "state", images={"mode": "proxy", "proxy_key": KEY,
                                                          "proxy_allow_private": True, "proxy_timeout": 2})
    client = create_app(config).test_client()
    path = proxy_url("", KEY, origin.url + "/img/one.png")
    with client.get(path) as response:
        assert response.status_code == 200
    for junk in ("!", "~~", "%00", "=="):
        assert client.get(path + junk).status_code == 403, junk
    for kind in ("text/html", "image/x-evil", "image/svg+xml\" onload=\"x"):
        with client.get(proxy_url("", KEY, origin.url + "/typed?type=" + kind.replace(" ", "%20"))) as response:
            assert response.status_code == 502, kind
    assert not list((tmp_path / "state" / "images").rglob("*.lock"))  # a fetch leaves no lock file behind


def test_8_workers_evicting_one_capped_cache_never_answer_500(tmp_path: Path, origin: Origin) -> None:
    src = tmp_path / "src"
    write(src / "a.md", "a")
    config = make_config(src, tmp_path / "state", images={"mode": "proxy", "proxy_key": KEY, "proxy_allow_private": True,
                                                          "proxy_timeout": 2, "proxy_cache_mb": 0.0005})
    workers = [create_app(config).test_client() for _ in range(2)]  # two workers, one cache directory
    statuses: list[int] = []

    def poll(client, offset: int) -> None:  # noqa: ANN001
        for n in range(40):
            response = client.get(proxy_url("", KEY, f"{origin.url}/img/{(n + offset) % 12}.png"))
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.data == PNG
            response.close()

    threads = [threading.Thread(target=poll, args=(workers[n % 2], n)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 480 and 500 not in statuses
    assert statuses.count(200) > 400  # a 503 says busy; most are served


def test_8_an_image_evicted_between_lookup_and_open_is_fetched_again(tmp_path: Path, origin: Origin) -> None:
    cache = ImageCache(tmp_path / "images", {}, LOCAL, max_bytes=10**6)
    url = origin.url + "/img/gone.png"
    found = cache.get(url)
    found.path.unlink()  # another worker's eviction, after this one looked the image up
    (found.path.with_suffix(".json")).unlink()
    image, handle = cache.open(url)
    with handle:
        assert handle.read() == PNG


def test_16_a_hub_url_with_a_line_break_is_a_config_error_naming_it() -> None:
    for hub in ("https://hub.example/\r\nX-Injected: 1", "https://hub.example/ x", "javascript:alert(1)"):
        with pytest.raises(ConfigError) as caught:
            parse_config({"sources": [{"path": "."}], "push": {"hubs": [hub]}})
        assert caught.value.problems[0].startswith("push.hubs:"), caught.value.problems
    for key, value in (("site", {"url": "https://feeds.example.com/\nx"}),):
        with pytest.raises(ConfigError):
            parse_config({"sources": [{"path": "."}], key: value})


def test_healthz_reads_the_scanners_own_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.ops.health import STATUS_ENV, ScannerStatus

    src = tmp_path / "src"
    write(src / "a.md", "a")
    config = make_config(src, tmp_path / "state")
    from .conftest import build_once

    build_once(config, tmp_path / "out")
    index = Store.open(config.state_dir)
    index.record_scan(LastScan(finished=datetime.now(UTC).isoformat(), seconds=0.1, files=1, read=1, changed=1,
                               errors=0, waiting=0, removed=0))
    index.close()
    status = ScannerStatus(tmp_path / "scanner.json")
    monkeypatch.setenv(STATUS_ENV, str(tmp_path / "scanner.json"))
    client = create_app(config).test_client()
    assert client.get("/healthz").status_code == 200
    status.set("watcher", "watching the sources stopped (OSError: boom); restarting")
    status.count("scans_overrun")
    response = client.get("/healthz")
    assert response.status_code == 503 and "watching the sources stopped" in response.json["reasons"][0]
    status.set("watcher", None)
    healthy = client.get("/healthz")
    assert healthy.status_code == 200 and healthy.json["scans_overrun"] == 1  # counted, not a problem


def test_4_a_watcher_that_fails_restarts_and_says_so_until_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import watchfiles
    from apscheduler.schedulers.background import BackgroundScheduler

    from feedsvc.ops import scheduler
    from feedsvc.ops.health import ScannerStatus

    src = tmp_path / "src"
    write(src / "a.md", "a")
    config = make_config(src, tmp_path / "state")
    calls: list[str] = []
    stop = threading.Event()
    status = ScannerStatus(tmp_path / "scanner.json")
    seen_failing = threading.Event()

    def flaky(*paths: str, **options: object):  # noqa: ANN202 - watchfiles.watch's stand-in
        calls.append("start")
        if len(calls) == 1:
            raise OSError("inotify watch limit reached")
        if "watcher" in json.loads((tmp_path / "scanner.json").read_text())["problems"]:
            seen_failing.set()
        yield set()  # in place
        stop.set()

    monkeypatch.setattr(watchfiles, "watch", flaky)
    monkeypatch.setattr(scheduler, "MAX_BACKOFF", 0.01)
    scanner = scheduler.Scanner(config, BackgroundScheduler(), status)
    thread = threading.Thread(target=scheduler.watch, args=(scanner, stop), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert calls == ["start", "start"] and seen_failing.is_set()  # /healthz said so while it was down
    assert "watcher" not in status.problems  # and no more once it ran again
