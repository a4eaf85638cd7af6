"""One bad file never takes the site down, faults are reported once and recovered from, and
/healthz tells the truth. Each test replays a case an operator met (issue 10's numbering)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from feedsvc.cli import main
from feedsvc.config import Scan
from feedsvc.images.fetch import FetchError, Limits, fetch
from feedsvc.ingest.scan import scan
from feedsvc.ops.scheduler import scan_once
from feedsvc.store import Store
from feedsvc.web.app import create_app

from .conftest import make_config
from .live import alive, children, wait_for
from .origin import Origin

Build = Callable[..., Path]


def post(folder: Path, name: str | bytes, front: str = "", body: str = "<p>body</p>", mtime: float | None = None) -> Path:
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))))
    title = os.fsencode(name).decode("utf-8", "replace")
    path.write_text(f"---\ntitle: {title}\n{front}\n---\n{body}\n", encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def every_feed_parses(out: Path) -> None:
    for path in [*out.rglob("*.rss"), *out.rglob("*.atom")]:
        assert feedparser.parse(path.read_bytes()).bozo == 0, path
    for path in out.rglob("*.json"):
        json.loads(path.read_bytes())


def test_1_dates_outside_1000_to_9999_are_warned_about_not_fatal(built: Build, articles: Path) -> None:
    for i, date in enumerate(["0999-06-01", "0050-01-01", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-14:00"]):
        post(articles, f"old{i}.md", f"date: {date}")
    post(articles, "fine.md", "date: 2022-01-01 10:00")
    out = built(articles)
    every_feed_parses(out)
    assert len(feedparser.parse((out / "feeds/all.atom").read_bytes()).entries) == 5
    code, output = run_cli("check", articles)
    assert code == 0 and "date '0999-06-01' is out of range; using the file's time" in output


@pytest.mark.parametrize("body", ["<div>bad &#x1; char</div>", "<p>&#65535; &#xfffe; &#0;</p>", '<a href="&#1;">x</a>'])
def test_2_character_references_to_illegal_characters_never_reach_a_feed(built: Build, articles: Path, body: str) -> None:
    post(articles, "refs.md", 'description: "&amp;#x1; and &#xFFFE;"', body)
    out = built(articles)
    every_feed_parses(out)
    assert "\x01" not in (out / "feeds/all.json").read_text(encoding="utf-8")


def test_3_a_file_name_that_is_not_utf8_is_reported_and_scanning_goes_on(tmp_path: Path, articles: Path) -> None:
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    post(articles, b"bad\xff name.md")
    post(articles, "good.md")
    assert scan_once(config) is not None
    post(articles, "later.md")
    assert scan_once(config).read == 1  # scanning still works, and the bad name is not read again
    client = create_app(config).test_client()
    assert {e.title for e in feedparser.parse(client.get("/feeds/all.atom").data).entries} == {"good.md", "later.md"}
    errors = client.get("/healthz").json["files_in_error"]
    assert errors == [str(articles / "bad\\xff name.md")]


def test_4_a_dripping_upstream_is_cut_at_the_total_timeout() -> None:
    with Origin() as origin:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetch(origin.url + "/drip.png", {}, Limits(connect_timeout=2, total_timeout=1.5, allow_private=True))
        assert caught.value.status == 504 and time.monotonic() - started < 3


def test_4_slow_images_never_starve_the_feeds(tmp_path: Path, corpus: Path) -> None:
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0},
                         images={"mode": "proxy", "proxy_key": "k", "proxy_allow_private": True, "proxy_timeout": 3})
    scan_once(config)
    app = create_app(config)
    from feedsvc.urls import proxy_url

    with Origin() as origin:
        paths = [proxy_url("", "k", f"{origin.url}/drip.png?{i}") for i in range(20)]
        answers: list[int] = []
        threads = [threading.Thread(target=lambda p=p: answers.append(app.test_client().get(p).status_code))
                   for p in paths]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        for _ in range(10):
            assert app.test_client().get("/feeds/all.rss").status_code == 200
        assert time.monotonic() - started < 2
        for thread in threads:
            thread.join(timeout=10)
    assert sorted(set(answers)) == [503, 504]  # busy at once, or cut at the deadline: never hung


def test_5_undated_articles_keep_their_dates_through_a_rewrite_with_a_failed_read(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(articles, tmp_path / "state", scan={"settle": 0, "delete_after": 600})
    path = post(articles, "undated.md", mtime=1_600_000_000)
    index = Store.open(config.state_dir)
    scan(index, config)
    before = index.articles_at([str(path)])[0]
    import feedsvc.ingest.scan as scan_module

    def gone(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(scan_module, "open", gone, raising=False)
    os.utime(path, (1_700_000_000, 1_700_000_000))  # the mirror rewrote it: new mtime
    scan(index, config)  # ... and the read found it gone for a moment
    monkeypatch.delattr(scan_module, "open")
    path.write_bytes(path.read_bytes())  # back, same bytes, newer mtime again
    os.utime(path, (1_700_000_100, 1_700_000_100))
    report = scan(index, config)
    after = index.articles_at([str(path)])[0]
    assert (after.published, after.updated) == (before.published, before.updated)
    assert report.changed == 0
    index.close()


def test_6_a_full_disk_at_the_generation_file_converges_on_the_next_scan(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    post(articles, "a.md")
    scan_once(config)
    client = create_app(config).test_client()
    assert len(feedparser.parse(client.get("/feeds/all.atom").data).entries) == 1
    import feedsvc.store.db as index_module

    real = index_module.replace_file

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_module, "replace_file", full)
    post(articles, "b.md")
    assert scan_once(config) is not None
    assert "No space left on device" in caplog.text and "cannot rollback" not in caplog.text
    monkeypatch.setattr(index_module, "replace_file", real)
    scan_once(config)  # nothing new: the generation file is written anyway
    assert len(feedparser.parse(client.get("/feeds/all.atom").data).entries) == 2


def test_7_a_source_that_vanishes_or_a_folder_that_cannot_be_read_unpublishes_nothing(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(articles, tmp_path / "state", scan={"settle": 0, "delete_after": 0})
    (articles / "sub").mkdir()
    post(articles, "top.md")
    post(articles / "sub", "inner.md")
    scan_once(config)
    client = create_app(config).test_client()
    real_open = os.open

    def locked(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("/sub"):  # the walk opens each folder to list it (tests run as root)
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)

    import feedsvc.ingest.sources as sources_module

    monkeypatch.setattr(sources_module.os, "open", locked)
    scan_once(config)
    scan_once(config)  # the grace period (0 s) is over: still nothing is unpublished
    health = client.get("/healthz")
    assert health.status_code == 503 and "cannot read this folder" in health.json["reasons"][0]
    monkeypatch.setattr(sources_module.os, "open", real_open)
    shutil.rmtree(articles)
    scan_once(config)
    scan_once(config)
    assert len(feedparser.parse(client.get("/feeds/all.atom").data).entries) == 2
    health = client.get("/healthz")
    assert health.status_code == 503 and "cannot read this source directory" in " ".join(health.json["reasons"])
    code, output = run_cli("check", articles, tmp_path)
    assert code == 2 and "no such directory" in output


def test_9_a_corrupt_index_is_set_aside_and_rebuilt_from_the_sources(tmp_path: Path, corpus: Path) -> None:
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0})
    scan_once(config)
    client = create_app(config).test_client()
    assert client.get("/feeds/all.atom").status_code == 200
    db = config.state_dir / "index.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    response = client.get("/articles/nope")  # a page not cached yet needs the index
    assert response.status_code in (404, 503) and b"Traceback" not in response.data
    assert scan_once(config) is not None
    assert list(config.state_dir.glob("index.sqlite3.corrupt-*"))
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["articles"] == 25
    assert len(feedparser.parse(client.get("/feeds/all.atom").data).entries) == 20


@pytest.mark.parametrize(("body", "kept"), [('<p>ok</p><img src="http://[::1"><p>after</p>', "after"),
                                            ("<html></html>", ""), ("<!doctype html>", ""),
                                            ("<div>" * 300 + "deep" + "</div>" * 300 + "<p>after the depth</p>",
                                             "after the depth")])
def test_11_odd_html_or_urls_keep_the_article_and_the_rest_of_its_body(built: Build, articles: Path, body: str,
                                                                        kept: str) -> None:
    post(articles, "odd.html", "date: 2022-01-01 10:00", body)
    out = built(articles)
    every_feed_parses(out)
    [item] = json.loads((out / "feeds/all.json").read_text(encoding="utf-8"))["items"]
    assert item["title"] == "odd.html" and kept in item.get("content_html", item.get("content_text", ""))


def test_12_odd_query_strings_and_double_slashes(tmp_path: Path, corpus: Path) -> None:
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0})
    scan_once(config)
    client = create_app(config).test_client()
    for value in ("²", "①", "-1", "0"):
        assert client.get(f"/feeds/all.rss?limit={value}").status_code == 400, value
    response = client.get("/feeds//all.rss", headers={"Host": "evil.example"})
    assert response.status_code == 404 and "Location" not in response.headers


def test_13_an_article_file_over_the_size_cap_is_reported_and_skipped(built: Build, articles: Path) -> None:
    post(articles, "huge.md", body="<p>" + "x" * 200_000 + "</p>")
    post(articles, "fine.md")
    code, output = run_cli("check", articles, extra="scan:\n  max_file_mb: 0.1\n")
    assert code == 1 and "huge.md: larger than scan.max_file_mb (0.1 MB); skipped" in output


def test_14_a_missing_file_stays_published_a_minute_whatever_the_interval() -> None:
    assert Scan(interval=1).delete_grace == 60
    assert Scan(interval=120).delete_grace == 240
    assert Scan(interval=1, delete_after=5).delete_grace == 5


def test_15_a_full_disk_during_build_is_one_line(tmp_path: Path, corpus: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.fail("mounting a small tmpfs needs root (CI runs as root)") if os.environ.get("CI") else pytest.skip(
            "mounting a small tmpfs needs root")
    try:
        code, output = run_cli("build", corpus, tmp_path, out=disk / "site")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert code == 1 and output.strip().splitlines()[-1].startswith("feedsvc: cannot write ")
    assert "No space left on device" in output and "Traceback" not in output


def test_a_read_only_state_dir_stops_serve_with_a_clear_message(tmp_path: Path, corpus: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(state)], capture_output=True).returncode:
        pytest.fail("mounting needs root (CI runs as root)") if os.environ.get("CI") else pytest.skip("needs root")
    try:
        config = tmp_path / "feedsvc.yaml"
        config.write_text(f"sources:\n  - path: {corpus}\nstate_dir: {state}\nserver:\n  port: 18991\n", encoding="utf-8")
        result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    finally:
        subprocess.run(["umount", str(state)], check=True)
    assert result.exit_code == 2 and f"state_dir {state} cannot be written" in result.output


def test_config_and_environment_mistakes_are_named_in_plain_words(tmp_path: Path, articles: Path) -> None:
    from feedsvc.config import parse_config
    from feedsvc.errors import ConfigError

    base = {"sources": [{"path": str(articles)}]}
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "feeds": {"limt": 5, "content": "all"}}, env={"FEEDSVC_PORT": "abc"})
    assert caught.value.problems == ["feeds.content: expected one of full, summary",
                                     "feeds.limt: unknown key (did you mean 'limit'?)",
                                     "FEEDSVC_PORT (environment, for server.port): expected an integer"]
    assert parse_config(base, env={"FEEDSVC_SITE_URL": "https://feeds.example.org/"}).site.url == (
        "https://feeds.example.org")


def run_cli(command: str, articles: Path, tmp: Path | None = None, extra: str = "", out: Path | None = None) -> tuple[int, str]:
    tmp = tmp or articles.parent
    config = tmp / "feedsvc.yaml"
    config.write_text(f"sources:\n  - path: {articles}\nstate_dir: {tmp / 'cli-state'}\n{extra}", encoding="utf-8")
    args = [command, "--config", str(config)] + (["--out", str(out or tmp / "site")] if command == "build" else [])
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def test_10_a_kill_during_a_cold_scan_keeps_what_was_committed(tmp_path: Path, articles: Path) -> None:
    for i in range(3000):
        post(articles, f"p{i:04}.md", "date: 2022-01-01 10:00", "<p>" + "text " * 400 + "</p>")
    config = tmp_path / "feedsvc.yaml"
    config.write_text(f"sources:\n  - path: {articles}\nstate_dir: {tmp_path / 'cli-state'}\n", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "feedsvc", "build", "--config", str(config), "--out",
                                str(tmp_path / "site")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "cli-state" / "index.sqlite3"
    committed = 0
    deadline = time.monotonic() + 60
    while committed == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
                committed = reader.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        except sqlite3.Error:
            continue
    workers = children(process.pid)
    process.kill()
    process.wait()
    assert 0 < committed < 3000
    # its parse workers go with it (they would wait on their queue for good, holding semaphores)
    assert workers
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10)
    code, output = run_cli("build", articles, tmp_path)
    read = int(output.strip().splitlines()[-1].split(" read")[0].rsplit(" ", 1)[1])
    assert code == 0 and read <= 3000 - committed


def test_healthz_is_503_with_its_reasons_when_a_scan_fails_or_a_feed_does_not_render(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0})
    scan_once(config)
    client = create_app(config).test_client()
    assert client.get("/healthz").status_code == 200
    import feedsvc.ingest.scan as scan_module
    import feedsvc.render.site as site_module

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(scan_module, "list_sources", broken)
    assert scan_once(config) is None
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["reasons"] == [
        "the last scan failed: OSError: [Errno 5] Input/output error"]
    monkeypatch.undo()
    scan_once(config)
    assert client.get("/healthz").status_code == 200
    monkeypatch.setattr(site_module, "feed_page", broken)
    assert client.get("/feeds/all.rss").status_code == 500
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["reasons"][0].startswith("/feeds/all.rss does not render")


def test_a_link_no_url_parser_takes_leaves_the_article_published(tmp_path: Path, articles: Path) -> None:
    """Found by the property test: ``link: http://[::1`` made resolving the body's
    protocol-relative URLs raise, and the whole article was an error."""
    (articles / "odd-link.html").write_text(
        "---\ntitle: Odd link\nlink: 'http://[::1'\n---\n<p><a href=\"//cdn.example/x\">x</a></p>\n", encoding="utf-8")
    config = make_config(articles, tmp_path / "state")
    index = Store.open(config.state_dir)
    try:
        report = scan(index, config, settle=0)
        assert report.errors == 0
        article = index.article(next(iter(index.db.execute("SELECT id FROM articles")))[0])
    finally:
        index.close()
    # not an http(s) URL a reader could follow: the item links to its page here, with a warning
    assert article is not None and article.link == ""
    assert 'href="//cdn.example/x"' in article.content


def test_a_template_cache_that_cannot_be_written_never_fails_a_page(tmp_path: Path) -> None:
    """Compiled templates are kept in a per-user temporary folder; on a machine where it
    cannot be written (a read-only or full /tmp) pages still render, compiled afresh."""
    from jinja2 import DictLoader, Environment

    from feedsvc.render.pages import QuietBytecodeCache

    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("", encoding="utf-8")
    env = Environment(loader=DictLoader({"t.html": "{{ x }}!"}), bytecode_cache=QuietBytecodeCache(str(not_a_folder)))
    assert env.get_template("t.html").render(x="rendered") == "rendered!"


def _die(*_: object) -> None:
    os._exit(1)  # in a worker process: as if the kernel's out-of-memory killer took it


def _ends_within(seconds: float, step: Callable[[], object]) -> BaseException | None:
    """Runs ``step`` in a thread and returns what it raised (None if nothing); a step still
    running after ``seconds`` fails the test instead of hanging the suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            step()
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s: it waits for a worker process that died"
    return outcome[0]


def test_a_parse_worker_that_dies_fails_the_scan_instead_of_hanging_it(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import feedsvc.ingest.scan as scan_module

    for n in range(3):
        post(articles, f"{n}.md")
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    monkeypatch.setattr(scan_module, "PARALLEL_THRESHOLD", 1)  # a process pool even for three files
    monkeypatch.setattr(scan_module, "read_and_parse", _die)
    failed: list[object] = []
    assert _ends_within(120, lambda: failed.append(scan_once(config))) is None
    assert failed == [None]  # the scan failed (and said so in the log); the scanner goes on
    monkeypatch.undo()
    assert scan_once(config).changed == 3  # the lock was let go: the next scan publishes them


def test_a_slug_process_that_dies_fails_the_scan_instead_of_hanging_it(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import feedsvc.ingest.scan as scan_module

    for n in range(3):
        post(articles, f"{n}.md", front="categories: [新媒体]")
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    monkeypatch.setattr(scan_module, "auto_slug", _die)  # what the helper process runs for a CJK name
    monkeypatch.setattr(scan_module, "_slugs_made", {})  # none known from an earlier scan in this process
    failed: list[object] = []
    assert _ends_within(120, lambda: failed.append(scan_once(config))) is None
    assert failed == [None]  # the scan failed (and said so in the log); the scanner goes on
    monkeypatch.undo()
    assert scan_once(config).changed == 3  # nothing of the failed scan was kept half-done


def test_a_page_process_that_dies_fails_the_build_with_a_message_instead_of_hanging_it(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import feedsvc.cli as cli_module
    import feedsvc.ops.export as export_module

    for n in range(3):
        post(articles, f"{n}.md")
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    monkeypatch.setattr(export_module, "PAGES_APART", 1)  # article pages and feeds from a second process
    monkeypatch.setattr(export_module, "_second_process", _die)
    error = _ends_within(120, lambda: cli_module._scan_and_export(config, tmp_path / "site"))
    assert isinstance(error, SystemExit) and error.code == 1
    assert "the process writing article pages and feeds died" in capsys.readouterr().err


def test_a_scan_that_outlasts_its_interval_is_counted_and_told_at_info_never_warned(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A busy machine (or a cold scan of a large mirror) makes a scan outlast its interval:
    APScheduler warned that the job was skipped, which an operator reads as trouble."""
    import logging

    from feedsvc.ops import scheduler
    from feedsvc.ops.health import ScannerStatus

    post(articles, "a.md")
    config = make_config(articles, tmp_path / "state", scan={"interval": 0.2, "watch": False})
    started = threading.Event()

    def slow(*args: object, **kwargs: object) -> None:
        started.set()
        time.sleep(1.5)  # seven intervals

    monkeypatch.setattr(scheduler, "scheduled_scan", slow)
    status = ScannerStatus(tmp_path / "scanner.json")
    caplog.set_level(logging.DEBUG)
    jobs = scheduler.start(config, status)
    try:
        wait_for(lambda: status.counts.get("scans_overrun", 0) >= 2, timeout=30)
    finally:
        jobs.shutdown(wait=True)
    assert started.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert any("still running" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
