"""A corrupt index heals itself: truncated to half, to 1 KB, or with its middle zeroed, before a
build or `serve` starts and while `serve` runs. It is moved aside with the reason said in one
line, rebuilt from the sources, and readers get feeds or a clear 503, never a 500."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from feedsvc.store import DB_NAME

from .live import LiveServer, get, wait_for


def half(db: Path) -> None:
    with open(db, "r+b") as handle:
        handle.truncate(db.stat().st_size // 2)


def one_kilobyte(db: Path) -> None:
    with open(db, "r+b") as handle:
        handle.truncate(1024)


def zeroed_middle(db: Path) -> None:
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        handle.seek(size // 4)
        handle.write(b"\0" * (size // 2))


DAMAGE: dict[str, Callable[[Path], None]] = {"half": half, "1kb": one_kilobyte, "zeroed": zeroed_middle}


def config_file(tmp: Path, corpus: Path) -> Path:
    config = tmp / "feedsvc.yaml"
    config.write_text(f"sources: [{{path: '{corpus}'}}]\nstate_dir: '{tmp / 'state'}'\n", encoding="utf-8")
    return config


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("damage", DAMAGE)
def test_build_and_check_rebuild_a_corrupt_index(tmp_path: Path, corpus: Path, damage: str) -> None:
    config = config_file(tmp_path, corpus)
    assert cli("build", "--config", str(config), "--out", str(tmp_path / "out")).returncode == 0
    DAMAGE[damage](tmp_path / "state" / DB_NAME)
    result = cli("build", "--config", str(config), "--out", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "cannot be written" not in result.stderr
    assert (tmp_path / "again" / "feeds" / "all.atom").read_bytes() == (tmp_path / "out" / "feeds" / "all.atom").read_bytes()
    assert list((tmp_path / "state").glob(f"{DB_NAME}.corrupt-*")) or damage == "zeroed"  # zeros may hit no page read
    assert cli("check", "--config", str(config)).returncode == 0


@pytest.mark.parametrize("damage", DAMAGE)
def test_serve_starts_on_a_corrupt_index_and_rebuilds_it(tmp_path: Path, corpus: Path, damage: str) -> None:
    live = LiveServer(tmp_path, corpus)
    live.start().stop()  # an index of the corpus
    DAMAGE[damage](tmp_path / "live-state" / DB_NAME)
    live.start()
    try:
        wait_for(lambda: live.health()["articles"] == 25)
        assert len(live.feed("/feeds/all.json")["items"]) == 20
        assert any("the index was corrupt" in line for line in live.log), live.log[-20:]
        assert list((tmp_path / "live-state").glob(f"{DB_NAME}.corrupt-*"))
    finally:
        live.stop()


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_index_damaged_while_serving_is_rebuilt_and_readers_never_get_a_500(tmp_path: Path, corpus: Path,
                                                                              damage: str) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(corpus, articles)
    live = LiveServer(tmp_path, articles).start()
    statuses: list[tuple[int, int]] = []
    done = threading.Event()

    def poll() -> None:
        paths = ["/feeds/all.json", "/", "/opml.xml", "/feeds/all.rss?limit=3"]
        n = 0
        while not done.is_set():
            status, _, body = get(live.url + paths[n % len(paths)])
            statuses.append((status, len(body)))
            n += 1

    try:
        wait_for(lambda: live.health()["articles"] == 25)
        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(2)]
        for poller in pollers:
            poller.start()
        DAMAGE[damage](tmp_path / "live-state" / DB_NAME)
        (articles / "new.md").write_text("---\ntitle: after the damage\n---\n<p>new</p>\n", encoding="utf-8")
        try:
            wait_for(lambda: live.health().get("articles") == 26, timeout=60)
        except AssertionError:
            raise AssertionError("\n".join(line for line in live.log if "GET" not in line)) from None
        # the index holds it; each worker sees its new generation a moment later (the file it
        # stats is written after the commit), and from then on serves it
        wait_for(lambda: [item["title"] for item in json.loads(get(live.url + "/feeds/all.json")[2])["items"][:1]]
                 == ["after the damage"], timeout=30)
        done.set()
        for poller in pollers:
            poller.join(timeout=20)
        assert not [s for s in statuses if s[0] >= 500 and s[0] != 503], statuses
        assert all(length > 0 for _, length in statuses)
    finally:
        done.set()
        live.stop()
