"""Scanning: incremental, keeps the last good version, survives a directory being rewritten."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from feedsvc.config import Config
from feedsvc.ingest.scan import scan
from feedsvc.ingest.sources import glob_regex
from feedsvc.model import Article, FeedQuery
from feedsvc.store import Store

from .conftest import HOSTILE, make_config

NOW = 1_700_000_000.0


def post(directory: Path, name: str, title: str, date: str = "2022-01-01 10:00", mtime: float = NOW - 100,
         extra: str = "") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: '{title}'\ncategories: [News]\n{extra}date: {date}\n---\n<p>{title} body</p>\n",
                    encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def setup(articles: Path, tmp_path: Path) -> tuple[Config, Store]:
    config = make_config(articles, tmp_path / "state", scan={"interval": 60, "settle": 2, "delete_after": 120})
    index = Store.open(config.state_dir)
    yield config, index
    index.close()


def live(index: Store) -> list[Article]:
    """Every published article, newest first."""
    return index.articles_at(index.select(FeedQuery(), 10**6).paths)


def titles(index: Store) -> list[str]:
    return [a.title for a in live(index)]


def test_unchanged_files_are_not_read_again(setup, articles: Path) -> None:
    config, index = setup
    for i in range(5):
        post(articles, f"p{i}.md", f"Post {i}", date=f"2022-01-0{i + 1} 10:00")
    first = scan(index, config, now=NOW)
    assert (first.seen, first.read, first.changed) == (5, 5, 5)
    again = scan(index, config, now=NOW + 60)
    assert (again.read, again.changed, again.generation) == (0, 0, first.generation)
    post(articles, "p2.md", "Post 2 edited", date="2022-01-03 10:00", mtime=NOW)
    edited = scan(index, config, now=NOW + 120)
    assert (edited.read, edited.changed, edited.generation) == (1, 1, first.generation + 1)
    assert titles(index) == ["Post 4", "Post 3", "Post 2 edited", "Post 1", "Post 0"]


def test_rewrite_with_the_same_bytes_changes_nothing(setup, articles: Path) -> None:
    config, index = setup
    path = post(articles, "undated.md", "No date", date="")
    scan(index, config, now=NOW)
    before = live(index)[0]
    generation = index.generation
    content = path.read_bytes()
    path.unlink()
    path.write_bytes(content)
    os.utime(path, (NOW + 500, NOW + 500))
    report = scan(index, config, now=NOW + 1000)
    assert report.read == 1 and report.changed == 0 and index.generation == generation
    assert live(index)[0] == before  # not even the mtime-derived date moved


def test_an_edited_undated_article_keeps_its_first_date(setup, articles: Path) -> None:
    config, index = setup
    path = post(articles, "undated.md", "No date", date="")
    scan(index, config, now=NOW)
    first = live(index)[0].published
    post(articles, "undated.md", "No date, edited", date="", mtime=NOW + 500)
    scan(index, config, now=NOW + 1000)
    article = live(index)[0]
    assert article.title == "No date, edited" and article.published == first and article.updated > first
    assert path.exists()


def test_a_file_that_starts_failing_keeps_its_last_good_version(setup, articles: Path) -> None:
    config, index = setup
    path = post(articles, "a.md", "Good")
    scan(index, config, now=NOW)
    path.write_text("---\ncategories: [News]\n---\nno title any more\n", encoding="utf-8")
    os.utime(path, (NOW, NOW))
    report = scan(index, config, now=NOW + 60)
    assert report.errors == 1
    assert titles(index) == ["Good"]
    assert [(p.path, p.message, p.fatal) for p in index.problems()] == [
        (str(path), "front matter has no title", True)]
    post(articles, "a.md", "Fixed", mtime=NOW + 30)
    scan(index, config, now=NOW + 120)
    assert titles(index) == ["Fixed"] and index.problems() == []


def test_a_walk_the_index_already_agrees_with_is_not_compared_again(setup, articles: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """At 100,000 files, reading the index's rows and comparing them with the walk was most of a
    scan that found nothing: a walk identical to the last one the index was left agreeing with
    skips both. Anything that may differ (an edit, a config change) compares again."""
    config, index = setup
    for i in range(3):
        post(articles, f"p{i}.md", f"Post {i}", date=f"2022-01-0{i + 1} 10:00")
    compared = []
    original, in_folders = Store.file_rows, Store.file_rows_in
    monkeypatch.setattr(Store, "file_rows", lambda self: compared.append(1) or original(self))
    monkeypatch.setattr(Store, "file_rows_in", lambda self, folders: compared.append(1) or in_folders(self, folders))
    assert scan(index, config, now=NOW).read == 3 and len(compared) == 1
    assert scan(index, config, now=NOW + 60).read == 0 and len(compared) == 1
    post(articles, "p1.md", "Post 1 edited", date="2022-01-02 10:00", mtime=NOW)
    assert scan(index, config, now=NOW + 120).read == 1 and len(compared) == 2
    assert scan(index, config, now=NOW + 180).read == 0 and len(compared) == 2
    retitled = replace(config, feeds=replace(config.feeds, summary_chars=config.feeds.summary_chars + 1))
    assert scan(index, retitled, now=NOW + 240).read == 3  # what articles are made of changed: all read again
    assert titles(index) == ["Post 2", "Post 1 edited", "Post 0"]


def test_after_a_change_only_the_folders_whose_files_changed_are_compared(setup, articles: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk that differs from the one the index agrees with: the index's rows of the folders
    listed as they were are not read (at 10,000 files, reading them all and comparing was 35 ms
    of a build after one edit). An edit, a new folder and a folder removed are each seen."""
    config, index = setup
    for folder in ("a", "b", "c", "c/deeper"):
        post(articles, f"{folder}/p.md", f"Post {folder}", date="2022-01-01 10:00")
    scan(index, config, now=NOW)
    looked: list[set[str]] = []
    original = Store.file_rows_in
    monkeypatch.setattr(Store, "file_rows_in", lambda self, folders: looked.append(set(folders)) or original(self, folders))
    post(articles, "a/p.md", "Post a edited", date="2022-01-01 10:00", mtime=NOW)
    post(articles, "d/new.md", "New", date="2022-01-02 10:00")
    shutil.rmtree(articles / "c")
    report = scan(index, config, now=NOW + 60)
    assert looked == [{str(articles / name) for name in ("a", "c", "c/deeper", "d")}]
    assert report.read == 2
    assert sorted(titles(index)) == ["New", "Post a edited", "Post b", "Post c", "Post c/deeper"]  # c: its grace period
    assert scan(index, config, now=NOW + 200).removed == 2  # compared in full: files were in their grace period
    assert sorted(titles(index)) == ["New", "Post a edited", "Post b"] and len(looked) == 1
    post(articles, "b/p.md", "Post b edited", mtime=NOW + 200)
    assert scan(index, config, now=NOW + 260).read == 1 and looked[1:] == [{str(articles / "b")}]
    assert sorted(titles(index)) == ["New", "Post a edited", "Post b edited"]


@pytest.mark.parametrize("kept", ["{damaged", "[]", ""])
def test_kept_folder_digests_that_cannot_be_read_make_the_scan_compare_every_file(
        setup, articles: Path, monkeypatch: pytest.MonkeyPatch, kept: str) -> None:
    """The digests of the walk the index agrees with are kept in the index; a value that is not
    what was kept (a damaged index) makes the scan compare every file: the edit is seen, and
    the next scan is back to comparing only the folders that differ."""
    config, index = setup
    for name in ("a", "b"):
        post(articles, f"{name}/p.md", f"Post {name}")
    scan(index, config, now=NOW)
    with index.transaction():
        index.set_meta("walk_folders", kept)
    full: list[int] = []
    original = Store.file_rows
    monkeypatch.setattr(Store, "file_rows", lambda self: full.append(1) or original(self))
    post(articles, "a/p.md", "Post a edited", mtime=NOW)
    assert scan(index, config, now=NOW + 60).read == 1 and full == [1]
    assert sorted(titles(index)) == ["Post a edited", "Post b"]
    post(articles, "b/p.md", "Post b edited", mtime=NOW + 60)
    assert scan(index, config, now=NOW + 120).read == 1 and full == [1]
    assert sorted(titles(index)) == ["Post a edited", "Post b edited"]


def test_a_fresh_file_waits_for_settle(setup, articles: Path) -> None:
    config, index = setup
    post(articles, "fresh.md", "Fresh", mtime=NOW - 1)
    report = scan(index, config, now=NOW)
    assert (report.read, report.waiting) == (0, 1) and titles(index) == []
    assert scan(index, config, now=NOW + 60).read == 1
    assert titles(index) == ["Fresh"]


def test_a_deleted_file_stays_published_for_the_grace_period(setup, articles: Path) -> None:
    config, index = setup
    path = post(articles, "gone.md", "Gone soon")
    post(articles, "stays.md", "Stays")
    scan(index, config, now=NOW)
    path.unlink()
    scan(index, config, now=NOW + 60)
    scan(index, config, now=NOW + 150)
    assert set(titles(index)) == {"Stays", "Gone soon"}
    report = scan(index, config, now=NOW + 60 + 120)
    assert report.removed == 1 and titles(index) == ["Stays"]


def test_a_whole_directory_rewrite_never_empties_the_feed(setup, articles: Path) -> None:
    config, index = setup
    for i in range(10):
        post(articles, f"s/p{i}.md", f"Post {i}")
    scan(index, config, now=NOW)
    shutil.rmtree(articles / "s")
    assert len(titles(index)) == 10
    scan(index, config, now=NOW + 60)  # everything missing, in the middle of the rewrite
    assert len(titles(index)) == 10
    for i in range(10):
        post(articles, f"s/p{i}.md", f"Post {i}", mtime=NOW + 61)  # written again, same bytes
    report = scan(index, config, now=NOW + 120)
    assert (report.read, report.changed, report.removed) == (10, 0, 0)
    scan(index, config, now=NOW + 1000)
    assert len(titles(index)) == 10


def test_two_files_with_one_id_newest_wins_and_the_other_is_reported(setup, articles: Path) -> None:
    config, index = setup
    old = post(articles, "old.md", "Old copy", extra="abbrlink: same\n", mtime=NOW - 500)
    new = post(articles, "new.md", "New copy", extra="abbrlink: same\n", mtime=NOW - 100)
    scan(index, config, now=NOW)
    assert titles(index) == ["New copy"]
    problems = index.problems()
    assert [(p.path, p.fatal) for p in problems] == [(str(old), True)]
    assert f"{new} is newer" in problems[0].message
    new.unlink()
    scan(index, config, now=NOW + 60)
    scan(index, config, now=NOW + 300)
    assert titles(index) == ["Old copy"]


def test_drafts_are_left_out(setup, articles: Path) -> None:
    config, index = setup
    post(articles, "d.md", "Draft", extra="draft: true\n")
    post(articles, "p.md", "Public")
    scan(index, config, now=NOW)
    assert titles(index) == ["Public"]


def test_hostile_directory_scans_with_every_problem_reported(articles: Path, tmp_path: Path) -> None:
    shutil.copytree(HOSTILE, articles, dirs_exist_ok=True)
    config = make_config(articles, tmp_path / "state")
    index = Store.open(config.state_dir)
    report = scan(index, config, settle=0)
    problems = {Path(p.path).name: p for p in index.problems()}
    assert report.errors == 2 and problems["no-title.md"].fatal and problems["alias-bomb.md"].fatal
    assert {"broken-yaml.md", "gbk-encoded.md", "python-tag.md", "control-chars.md"} <= set(problems)
    assert len(titles(index)) == 9  # 12 files: one without a title, one alias bomb, one draft
    index.close()


def test_restart_reuses_the_index(setup, articles: Path) -> None:
    config, index = setup
    post(articles, "a.md", "A")
    scan(index, config, now=NOW)
    index.close()
    reopened = Store.open(config.state_dir)
    assert scan(reopened, config, now=NOW + 60).read == 0
    assert titles(reopened) == ["A"]
    reopened.close()


def test_many_files_parse_in_parallel_with_the_same_result(articles: Path, tmp_path: Path) -> None:
    for i in range(80):
        post(articles, f"many/{i:03}.md", f"Post {i}", date=f"2022-01-01 10:{i % 60:02}")
    config = make_config(articles, tmp_path / "state")
    index = Store.open(config.state_dir)
    assert scan(index, config, settle=0).read == 80
    assert index.count_live() == 80
    index.close()


@pytest.mark.parametrize(("glob", "path", "matches"), [
    ("**/*.{md,markdown,html,txt}", "a.md", True),
    ("**/*.{md,markdown,html,txt}", "x/y/z.HTML", True),
    ("**/*.{md,markdown,html,txt}", "x/y/z.json", False),
    ("posts/*.md", "posts/a.md", True),
    ("posts/*.md", "posts/deep/a.md", False),
])
def test_source_globs(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(glob).match(path)) is matches


def test_beside_a_watcher_the_interval_scan_finds_what_the_watcher_missed(articles: Path, tmp_path: Path) -> None:
    """While the watcher runs, an interval scan stats the folders instead of every file: a file
    the watcher missed that was added (its folder moved) is found at the next interval, one
    edited in place within ``FULL_WALK_EVERY`` intervals; /healthz sees every check."""

    from feedsvc.ops.scheduler import FULL_WALK_EVERY, SafetyNet, scheduled_scan

    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    first = post(articles / "news", "a.md", "First")
    net = SafetyNet()
    net.watching = True  # a watcher that misses everything below
    assert scheduled_scan(config, None, net) is not None  # the first interval walks every file

    def titles() -> set[str]:
        index = Store.open(config.state_dir)
        try:
            return {a.title for a in index.articles_at(index.select(FeedQuery(), 50).paths)}
        finally:
            index.close()

    def last_check() -> str:
        index = Store.open(config.state_dir)
        try:
            last = index.last_scan()
            assert last is not None
            return last.finished
        finally:
            index.close()

    post(articles / "news", "b.md", "Added")
    assert scheduled_scan(config, None, net) is not None and titles() == {"First", "Added"}
    post(articles / "news", "a.md", "Edited in place", mtime=NOW)  # same folder entries: its mtime stays
    checked = last_check()
    for _ in range(FULL_WALK_EVERY - 1):
        assert scheduled_scan(config, None, net) is None  # folders only
        assert "Edited in place" not in titles()
    assert last_check() > checked
    assert scheduled_scan(config, None, net) is not None  # the tenth: every file
    assert titles() == {"Edited in place", "Added"}
    net.watching = False  # without a watcher every interval walks every file
    first.write_text(first.read_text(encoding="utf-8").replace("Edited in place", "Again"), encoding="utf-8")
    assert scheduled_scan(config, None, net) is not None and titles() == {"Again", "Added"}


def test_new_cjk_names_get_pinyin_slugs_without_the_dictionaries_in_the_scanning_process(
        tmp_path: Path, articles: Path) -> None:
    """``feedsvc serve`` scans in its scheduler's process for as long as it runs: pinyin's
    dictionaries (55 MB) are looked up in a helper process that ends with the scan."""
    (articles / "a.md").write_text("---\ntitle: A\ncategories: [新媒体, ZAKER]\ntags: [直播]\ndate: 2022-01-01\n---\n"
                                   "<p>a</p>\n", encoding="utf-8")
    script = f"""
import json, sys
from feedsvc.store import Store
from feedsvc.ingest.scan import scan
from tests.conftest import make_config
config = make_config({str(articles)!r}, {str(tmp_path / "state")!r})
index = Store.open(config.state_dir)
scan(index, config, settle=0)
print(json.dumps([dict(index.db.execute("SELECT name, slug FROM terms")), "pypinyin" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    slugs, dictionaries_loaded = json.loads(done.stdout)
    assert slugs == {"新媒体": "xin-mei-ti", "ZAKER": "zaker", "直播": "zhi-bo"}
    assert not dictionaries_loaded


def test_a_later_scan_in_the_same_process_reuses_the_slugs_it_looked_up(
        tmp_path: Path, articles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper's start-up (pypinyin's import, most of a second) is paid once per name a
    process has not seen: the test suite and ``serve`` scan again and again."""
    import feedsvc.ingest.scan as scan_module

    monkeypatch.setattr(scan_module, "_slugs_made", {})
    started: list[str] = []
    real_pool = scan_module.process_pool

    def counted(workers: int, who: str, **options: Any) -> Any:
        started.append(who)
        return real_pool(workers, who, **options)

    monkeypatch.setattr(scan_module, "process_pool", counted)
    (articles / "a.md").write_text("---\ntitle: A\ncategories: [新媒体, ZAKER]\ndate: 2022-01-01\n---\n<p>a</p>\n",
                                   encoding="utf-8")
    slugs = []
    for state in ("first", "second"):
        config = make_config(articles, tmp_path / state)
        index = Store.open(config.state_dir)
        scan(index, config, settle=0)
        slugs.append(dict(index.db.execute("SELECT name, slug FROM terms")))
        index.close()
    assert slugs[0] == slugs[1] == {"新媒体": "xin-mei-ti", "ZAKER": "zaker"}
    assert started == ["the process making slugs"]  # the second scan knew the name
