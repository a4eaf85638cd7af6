"""The feedsvc command as a user runs it: build and check, messages and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from feedsvc.cli import main

from .conftest import HOSTILE


def write_config(tmp_path: Path, articles: Path, extra: str = "") -> Path:
    path = tmp_path / "feedsvc.yaml"
    path.write_text(f"site:\n  url: https://feeds.example.com\nsources:\n  - path: {articles}\n"
                    f"state_dir: {tmp_path / 'state'}\n{extra}", encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_build_writes_the_site_and_reports_article_errors(tmp_path: Path, articles: Path) -> None:
    shutil.copytree(HOSTILE, articles, dirs_exist_ok=True)
    config = write_config(tmp_path, articles)
    code, output = run("build", "--config", str(config), "--out", str(tmp_path / "site"))
    assert code == 0
    assert f"{articles / 'no-title.md'}: front matter has no title" in output
    assert "warning: front matter is not valid YAML" in output
    assert f"{articles / 'alias-bomb.md'}: front matter: its aliases expand it past" in output
    assert "12 files, 12 read, 2 in error" in output
    assert (tmp_path / "site" / "feeds" / "all.atom").is_file()
    code, output = run("build", "--config", str(config), "--out", str(tmp_path / "site"), "--strict")
    assert code == 1 and "0 read" in output and "0 written" in output


def test_check_prints_path_and_message_and_exits_1(tmp_path: Path, articles: Path) -> None:
    shutil.copytree(HOSTILE, articles, dirs_exist_ok=True)
    code, output = run("check", "--config", str(write_config(tmp_path, articles)))
    assert code == 1
    lines = output.splitlines()
    assert f"{articles / 'no-title.md'}: front matter has no title" in lines
    assert lines[-1] == "12 files checked: 2 errors, 4 warnings"
    assert f"{articles / 'alias-bomb.md'}: front matter: its aliases expand it past 100,000 values" in output
    assert not (tmp_path / "state").exists()  # check changes nothing


def test_check_passes_on_good_articles(tmp_path: Path, corpus: Path) -> None:
    code, output = run("check", "--config", str(write_config(tmp_path, corpus)))
    assert (code, output.strip()) == (0, "25 files checked: 0 errors, 0 warnings")


def test_a_bad_config_stops_with_the_key_and_problem(tmp_path: Path, articles: Path) -> None:
    config = write_config(tmp_path, articles, "feeds:\n  limit: lots\n  colour: red\n")
    code, output = run("check", "--config", str(config))
    assert code == 2
    assert output.splitlines() == [f"{config}: invalid configuration", "  feeds.limit: expected an integer",
                                   "  feeds.colour: unknown key"]


def test_build_waits_for_a_running_scan_of_the_same_index(tmp_path: Path, corpus: Path) -> None:
    import threading
    import time

    from feedsvc.atomic import scan_lock
    from feedsvc.config import load_config

    config_path = write_config(tmp_path, corpus)
    config = load_config(str(config_path), env={})
    finished = []
    with scan_lock(config.state_dir) as held:
        assert held
        worker = threading.Thread(target=lambda: finished.append(
            run("build", "--config", str(config_path), "--out", str(tmp_path / "site"))))
        worker.start()
        time.sleep(0.5)
        assert finished == []  # still waiting for the lock
    worker.join(timeout=30)
    assert finished and finished[0][0] == 0


def test_check_and_build_agree_the_newest_file_wins_a_duplicate_id(tmp_path: Path, articles: Path) -> None:
    import os

    for name, title, mtime in (("a-old.md", "Old", 1_600_000_000), ("b-new.md", "New", 1_700_000_000)):
        (articles / name).write_text(f"---\ntitle: {title}\nid: same\n---\nbody\n", encoding="utf-8")
        os.utime(articles / name, (mtime, mtime))
    config = str(write_config(tmp_path, articles))
    for command in (("check", "--config", config), ("build", "--config", config, "--out", str(tmp_path / "site"))):
        _, output = run(*command)
        assert f"{articles / 'a-old.md'}: duplicate id 'same': {articles / 'b-new.md'} is newer" in output, command
    assert "<h1>New</h1>" in (tmp_path / "site" / "articles" / "same.html").read_text(encoding="utf-8")
