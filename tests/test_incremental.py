"""An export after a few changes writes just what they touch, and ends byte for byte where a
cold build of the same files does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feedsvc.feeds.catalog import render_fingerprint
from feedsvc.ingest.scan import scan
from feedsvc.ops.export import export
from feedsvc.render.site import ITEM
from feedsvc.store import Store

from .conftest import build_once, make_config

SECTIONS = {"feeds": {"limit": 3, "archive_size": 2},
            "channels": [{"slug": "tech", "title": "Tech", "categories": ["编程", "ZAKER"]},
                         {"slug": "live", "title": "Live", "match": "直播|电商|Vivy"}],
            "scan": {"delete_after": 0}}
ZAKER = "新媒体/ZAKER/channel"


def post(title: str, date: str, categories: list[str], tags: list[str] = (), body: str = "<p>正文</p>",
         extra: str = "") -> str:
    cats = "".join(f"\n  - {c}" for c in categories)
    tag_lines = "".join(f"\n  - {t}" for t in tags)
    return (f"---\ntitle: '{title}'\ndate: {date}\ncategories:{cats}\n" + (f"tags:{tag_lines}\n" if tags else "")
            + extra + f"---\n{body}\n")


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _write(path: Path, text: str, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))  # later edits are newer files, whatever the clock's resolution


def edit_body(src: Path, t: int) -> None:
    _write(src / ZAKER / "a.md", post("Alpha", "2021-05-01 08:00:00", ["新媒体", "ZAKER", "channel"], ["科技"],
                                      body="<p>改过的正文</p>"), t)


def move_to_another_branch(src: Path, t: int) -> None:
    _write(src / ZAKER / "b.md", post("Beta", "2021-05-02 08:00:00", ["编程", "Python"], ["科技"]), t)


def add_new_articles(src: Path, t: int) -> None:
    for n in range(4):
        _write(src / ZAKER / f"new{n}.md", post(f"New {n}", f"2021-06-0{n + 1} 08:00:00",
                                               ["新媒体", "ZAKER", "channel"], ["新标签"]), t)


def newer_file_takes_an_id(src: Path, t: int) -> None:
    _write(src / "图片" / "dup.md", post("Gamma again", "2021-05-03 09:00:00", ["图片", "煎蛋"], extra="id: gamma\n"), t)


def draft(src: Path, t: int) -> None:
    _write(src / ZAKER / "new1.md", post("New 1", "2021-06-02 08:00:00", ["新媒体", "ZAKER", "channel"], ["新标签"],
                                         extra="draft: true\n"), t)


def delete_files(src: Path, t: int) -> None:
    (src / ZAKER / "new2.md").unlink()
    shutil.rmtree(src / "音视频")


def retag(src: Path, t: int) -> None:
    _write(src / ZAKER / "new0.md", post("New 0", "2021-06-01 08:00:00", ["新媒体", "ZAKER", "channel"], ["别的"]), t)


STEPS: list[Callable[[Path, int], None]] = [edit_body, move_to_another_branch, add_new_articles,
                                            newer_file_takes_an_id, draft, delete_files, retag]


@pytest.fixture
def source(corpus: Path) -> Path:
    base = 1_600_000_000 * 10**9
    _write(corpus / ZAKER / "a.md", post("Alpha", "2021-05-01 08:00:00", ["新媒体", "ZAKER", "channel"], ["科技"]), base)
    _write(corpus / ZAKER / "b.md", post("Beta", "2021-05-02 08:00:00", ["新媒体", "ZAKER", "channel"], ["科技"]), base)
    _write(corpus / ZAKER / "c.md", post("Gamma", "2021-05-03 08:00:00", ["新媒体", "ZAKER", "channel"],
                                         extra="id: gamma\n"), base)
    return corpus


def each_step_against_a_cold_build(tmp_path: Path, source: Path, steps: list[Callable[[Path, int], None]],
                                   sections: dict[str, Any] = SECTIONS,
                                   ) -> Iterator[tuple[Callable[[Path, int], None], dict[str, bytes], dict[str, bytes]]]:
    """Build once; then, for each step, make its change, scan, export, and check that the export
    is byte for byte what a cold build of the same files gives. Yields (step, tree before, tree after)."""
    config = make_config(source, tmp_path / "state", **sections)
    out = tmp_path / "site"
    index = Store.open(config.state_dir)
    try:
        scan(index, config, settle=0)
        export(index, config, out)
        for number, step in enumerate(steps, 1):
            step(source, (1_600_000_000 + number * 100) * 10**9)
            scan(index, config, settle=0)
            scan(index, config, settle=0)  # files gone: forgotten now that the grace (0 s) is over
            before = tree(out)
            export(index, config, out)
            after = tree(out)
            cold = tmp_path / f"cold{number}"
            build_once(replace(config, state_dir=tmp_path / f"cold-state{number}"), cold)
            assert after == tree(cold), step.__name__
            yield step, before, after
    finally:
        index.close()


def test_each_change_exports_what_a_cold_build_of_the_same_files_does(tmp_path: Path, source: Path) -> None:
    for step, before, after in each_step_against_a_cold_build(tmp_path, source, STEPS):
        changed = {p for p in after if before.get(p) != after[p]} | (before.keys() - after.keys())
        assert changed, step.__name__


@pytest.mark.parametrize("off", ["categories", "tags"])
def test_with_category_or_tag_feeds_off_each_change_still_exports_what_a_cold_build_does(
        tmp_path: Path, source: Path, off: str) -> None:
    """No feed, page or link for what is switched off, after an edit as after a cold build."""
    sections = {**SECTIONS, "feeds": {**SECTIONS["feeds"], off: False}}
    for _, _, after in each_step_against_a_cold_build(tmp_path, source, STEPS[:4], sections):
        assert not any(p.startswith(off) for p in after)


def test_entries_stored_for_another_config_are_rendered_again(tmp_path: Path, source: Path) -> None:
    """The index keeps entries as rendered for the config of the build that rendered them: a build after a
    change of what entries show (not of what articles are, so no file is read again) renders
    them anew."""
    first = make_config(source, tmp_path / "state", **SECTIONS)
    build_once(first, tmp_path / "site")
    renamed = replace(first, site=replace(first.site, title="Renamed mirror"),
                      feeds=replace(first.feeds, content="summary"))
    build_once(renamed, tmp_path / "site")
    build_once(replace(renamed, state_dir=tmp_path / "cold-state"), tmp_path / "cold")
    assert tree(tmp_path / "site") == tree(tmp_path / "cold")
    assert "Renamed mirror" in (tmp_path / "site" / "feeds/all.atom").read_text(encoding="utf-8")


def assert_rebuilt_as_fresh(tmp_path: Path, source: Path, *alterations: str | Callable[[Store], int]) -> int:
    """Build, alter the index (statements or functions: an earlier schema, a damaged row), build
    the site again from nothing and check it is what a fresh index gives; returns the rows they
    changed."""
    config = make_config(source, tmp_path / "state", **SECTIONS)
    build_once(config, tmp_path / "site")
    index = Store.open(config.state_dir)
    with index.db:
        changed = sum(max(index.db.execute(alter).rowcount, 0) if isinstance(alter, str) else alter(index)
                      for alter in alterations)
    index.close()
    shutil.rmtree(tmp_path / "site")
    build_once(config, tmp_path / "site")
    build_once(replace(config, state_dir=tmp_path / "fresh-state"), tmp_path / "fresh")
    assert tree(tmp_path / "site") == tree(tmp_path / "fresh")
    return changed


def test_an_index_made_before_term_liveness_was_kept_serves_the_same_feeds(tmp_path: Path, source: Path) -> None:
    """Upgrading over an existing state directory: article_terms gains its ``live`` column,
    filled from the articles, and every count and feed stays what a fresh index gives."""
    assert_rebuilt_as_fresh(tmp_path, source, "DROP INDEX article_terms_live",
                            "ALTER TABLE article_terms DROP COLUMN live")


def test_an_index_that_kept_entries_a_row_per_format_serves_the_same_feeds(tmp_path: Path, source: Path) -> None:
    """Upgrading over a state directory whose index kept each entry a row per format: those
    rows are dropped, and the next build renders the entries again, giving what a fresh index gives."""
    assert_rebuilt_as_fresh(  # the earlier layout, holding an entry no feed should show
        tmp_path, source, "DROP TABLE entries",
        "CREATE TABLE entries (path TEXT NOT NULL, fmt TEXT NOT NULL, fingerprint TEXT NOT NULL,"
        " updated TEXT NOT NULL, rendered BLOB NOT NULL, UNIQUE (path, fmt))",
        "INSERT INTO entries SELECT path, 'rss', '', '', x'00' FROM articles")


def test_a_stored_entry_whose_parts_do_not_add_up_is_rendered_again(tmp_path: Path, source: Path) -> None:
    """An entry row whose lengths do not match its bytes (a damaged row SQLite did not catch) is
    never served cut short: it counts as missing, and the feeds are what a fresh index gives."""
    assert assert_rebuilt_as_fresh(
        tmp_path, source, "UPDATE entries SET parts = 'rss 1,atom 1'",
        "UPDATE entries SET parts = 'rss x' WHERE rowid = (SELECT min(rowid) FROM entries)")


def test_entries_stored_before_feed_pages_items_were_are_stored_again_with_them(tmp_path: Path,
                                                                                 source: Path) -> None:
    """An index whose entry rows hold no feed-page item (kept before items were): the next build
    renders those entries again, items included, and gives what a fresh index gives."""
    fingerprint = render_fingerprint(make_config(source, tmp_path / "state", **SECTIONS))

    def stored(index: Store) -> dict[str, tuple[datetime, dict[str, bytes]]]:
        return index.entries([path for (path,) in index.db.execute("SELECT path FROM entries")], fingerprint)

    def drop_items(index: Store) -> int:
        for path, (updated, parts) in (rows := stored(index)).items():
            index.store_entries(path, fingerprint, updated, {part: body for part, body in parts.items() if part != ITEM})
        return len(rows)

    assert assert_rebuilt_as_fresh(tmp_path, source, drop_items)
    rows = stored(Store.open(tmp_path / "state"))
    assert rows and all(ITEM in parts for _, parts in rows.values())


# -- a long history: the archive pages older than every change are kept without a look -------

OLD = "历史/旧闻"


def _old_post(n: int, date: str, body: str = "<p>旧闻</p>") -> str:
    return post(f"Old {n}", date, ["历史", "旧闻"], ["存档"], body=body, extra=f"id: old{n}\n")


def add_the_newest(src: Path, t: int) -> None:
    _write(src / OLD / "newest.md", _old_post(100, "2022-01-01 08:00:00"), t)


def edit_a_middle_one(src: Path, t: int) -> None:  # the last item of page 3, counted from the oldest
    _write(src / OLD / "5.md", _old_post(5, "2020-01-06 08:00:00", body="<p>改过</p>"), t)


def move_an_old_one_to_the_top(src: Path, t: int) -> None:
    _write(src / OLD / "2.md", _old_post(2, "2023-01-01 08:00:00"), t)  # it leaves page 1 or 2


def delete_an_old_one(src: Path, t: int) -> None:
    (src / OLD / "4.md").unlink()


def delete_the_newest(src: Path, t: int) -> None:  # 历史's last page, full, becomes the last, not full
    (src / OLD / "newest.md").unlink()


def a_newer_file_takes_an_old_id(src: Path, t: int) -> None:
    _write(src / "图片" / "takeover.md", post("Old 8 again", "2023-02-01 08:00:00", ["图片", "煎蛋"], extra="id: old8\n"), t)


def fill_the_last_pages(src: Path, t: int) -> None:
    for n in range(6):
        _write(src / OLD / f"more{n}.md", _old_post(200 + n, f"2024-01-0{n + 1} 08:00:00"), t)


HISTORY_STEPS: list[Callable[[Path, int], None]] = [add_the_newest, delete_the_newest, edit_a_middle_one,
                                                    move_an_old_one_to_the_top, delete_an_old_one,
                                                    a_newer_file_takes_an_old_id, fill_the_last_pages]


def test_archive_pages_older_than_every_change_are_kept_and_the_rest_match_a_cold_build(
        tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.ops import export as export_module

    for n in range(14):
        _write(source / OLD / f"{n}.md", _old_post(n, f"2020-01-{n + 1:02d} 08:00:00"), 1_600_000_000 * 10**9)
    kept: list[int] = []
    counted = export_module.unchanged_pages
    monkeypatch.setattr(export_module, "unchanged_pages", lambda *a: kept.append(counted(*a)) or kept[-1])
    for step, _, _ in each_step_against_a_cold_build(tmp_path, source, HISTORY_STEPS):
        if step in (add_the_newest, delete_the_newest, edit_a_middle_one, delete_an_old_one, fill_the_last_pages):
            assert max(kept) > 0, step.__name__  # the case is the one it is meant to be
        kept.clear()


# -- a large tree: one edit reads the nodes it shows, never the whole tree ---------------------


def move_between_branches(src: Path, t: int) -> None:  # both stay: no feed comes or goes
    _write(src / ZAKER / "b.md", post("Beta", "2021-05-02 08:00:00", ["新媒体", "分支3", "栏目"], ["科技"]), t)


def retag_with_a_known_tag(src: Path, t: int) -> None:
    _write(src / ZAKER / "a.md", post("Alpha", "2021-05-01 08:00:00", ["新媒体", "ZAKER", "channel"], ["标签1", "科技"]), t)


def test_one_edit_in_a_wide_tree_reads_only_the_nodes_its_pages_show(
        tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty branches beside the edited one: the export after an edit never lists every term
    (at 8,000 nodes that cost more than rendering the pages it changes), and still ends where a
    cold build ends, the index page (40 children under one node, 12 shown) and the OPML included."""
    from feedsvc.store.terms import Terms

    for n in range(40):
        _write(source / f"b{n}" / "p.md", post(f"Post {n}", f"2021-04-{n % 28 + 1:02d} 08:00:00",
                                               ["新媒体", f"分支{n}", "栏目"], [f"标签{n % 7}"]), 1_600_000_000 * 10**9)
    config = make_config(source, tmp_path / "state", **SECTIONS)
    build_once(config, tmp_path / "site")
    whole = Terms.terms
    for number, step in enumerate([edit_body, move_between_branches, retag_with_a_known_tag], 1):
        step(source, (1_600_000_000 + number * 100) * 10**9)
        index = Store.open(config.state_dir)
        try:
            scan(index, config, settle=0)
            scan(index, config, settle=0)
            monkeypatch.setattr(Terms, "terms", lambda self: pytest.fail("the whole tree was read"))
            report = export(index, config, tmp_path / "site")
            monkeypatch.setattr(Terms, "terms", whole)
        finally:
            index.close()
        assert 0 < report.written < report.unchanged, step.__name__
        build_once(replace(config, state_dir=tmp_path / f"cold-state{number}"), tmp_path / f"cold{number}")
        assert tree(tmp_path / "site") == tree(tmp_path / f"cold{number}"), step.__name__
