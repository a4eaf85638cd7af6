"""The real server against the probe's live cases (issue 27): a watcher that follows a symlinked
folder, a source folder replaced under the watcher, a file still settling at a scan, a state
directory that cannot be written, and one deleted while clients poll. Every wait is for a
condition: a sentinel file the same watcher must bring in, then the assertion."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .live import LiveServer, get, wait_for


def post(path: Path, title: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {title}\n---\n<p>{title}</p>\n", encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def titles(live: LiveServer) -> set[str]:
    return {item["title"] for item in live.feed("/feeds/all.json")["items"]}


@contextmanager
def serving_one_post(tmp_path: Path, **scan: float) -> Iterator[tuple[Path, LiveServer]]:
    """A server whose one source holds one post, in its feed already."""
    src = tmp_path / "src"
    post(src / "first.md", "first")
    live = LiveServer(tmp_path, src, **scan).start()
    try:
        wait_for(lambda: "first" in titles(live))
        yield src, live
    finally:
        live.stop()


def test_1_the_watcher_never_publishes_a_file_reached_through_a_symlinked_folder(tmp_path: Path) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    src.mkdir()
    outside.mkdir()
    (src / "outlink").symlink_to("../outside")  # before serve starts, as in the probe
    post(src / "first.md", "first")
    live = LiveServer(tmp_path, src, interval=600, settle=0.5).start()
    try:
        wait_for(lambda: "first" in titles(live))
        post(outside / "secret.md", "OUTSIDE-SECRET")
        time.sleep(0.2)  # the secret's event comes first; the sentinel's scan is after it
        post(src / "sentinel.md", "sentinel")
        wait_for(lambda: "sentinel" in titles(live))
        post(outside / "secret.md", "OUTSIDE-SECRET edited")
        post(src / "sentinel2.md", "sentinel2")
        wait_for(lambda: "sentinel2" in titles(live))
        assert not any("OUTSIDE" in title for title in titles(live))
    finally:
        live.stop()


def test_4_a_replaced_source_folder_is_watched_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    post(src / "old.md", "old")
    live = LiveServer(tmp_path, src, interval=600, settle=0.2, delete_after=0).start()
    try:
        wait_for(lambda: "old" in titles(live))
        shutil.rmtree(src)  # the mirror rewrites its directory: rm -rf src; mkdir src
        src.mkdir()
        post(src / "new.md", "new")
        wait_for(lambda: "new" in titles(live), timeout=30)  # the interval (600 s) would be far later
        post(src / "new.md", "new, edited in place")
        wait_for(lambda: "new, edited in place" in titles(live), timeout=30)
        assert live.health()["status"] == "ok"
    finally:
        live.stop()


def test_5_a_file_still_settling_at_a_scan_is_read_once_it_has_settled(tmp_path: Path) -> None:
    with serving_one_post(tmp_path, interval=600, settle=1) as (src, live):
        # written "two seconds from now" (a clock a little ahead, a copy keeping times): every
        # scan until then finds it unsettled, and no later event will come for it
        post(src / "late.md", "late", mtime=time.time() + 2)
        wait_for(lambda: "late" in titles(live), timeout=30)
        assert live.health()["last_scan"]["waiting"] == 0


def test_6_a_scan_that_cannot_take_its_lock_is_a_503_until_it_can(tmp_path: Path) -> None:
    lock = tmp_path / "live-state" / "scan.lock"
    with serving_one_post(tmp_path, interval=600, settle=0.2) as (src, live):
        lock.unlink()
        lock.mkdir()  # open(scan.lock, "w") fails, as on a state_dir that cannot be written
        post(src / "second.md", "second")
        reasons = wait_for(lambda: get(live.url + "/healthz")[0] == 503 and live.health()["reasons"])
        assert any("scan.lock" in reason for reason in reasons), reasons  # type: ignore[union-attr]
        lock.rmdir()
        post(src / "third.md", "third")  # the watcher is still alive: it brings this one in
        wait_for(lambda: {"second", "third"} <= titles(live), timeout=30)
        wait_for(lambda: get(live.url + "/healthz")[0] == 200)


def test_7_a_state_dir_deleted_while_polled_is_rebuilt_with_503s_not_500s_and_workers_agree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for n in range(20):
        post(src / f"a{n:02}.md", f"a{n}")
    live = LiveServer(tmp_path, src, interval=1, settle=0).start()
    state = tmp_path / "live-state"
    statuses: list[tuple[int, int]] = []  # (status, body length)
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            status, _, body = get(live.url + "/feeds/all.json")
            statuses.append((status, len(body)))

    try:
        wait_for(lambda: len(titles(live)) == 20)
        before = int((state / "generation").read_text())
        pollers = [threading.Thread(target=poll) for _ in range(4)]
        for poller in pollers:
            poller.start()
        shutil.rmtree(state)
        wait_for(lambda: (state / "generation").exists() and len(titles(live)) == 20, timeout=60)
        done.set()
        for poller in pollers:
            poller.join(timeout=30)
        assert not [s for s in statuses if s[0] >= 500 and s[0] != 503], statuses
        assert all(length > 0 for _, length in statuses)  # a 503 says why
        assert int((state / "generation").read_text()) > before  # never backwards
        counts = {len(json.loads(get(live.url + "/feeds/all.json")[2])["items"]) for _ in range(40)}
        assert counts == {20}  # both workers serve the rebuilt index
    finally:
        done.set()
        live.stop()
