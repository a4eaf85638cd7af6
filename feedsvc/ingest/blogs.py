"""What a Hexo blog's posts need from the disk: the files in a post's asset folder, and when an
undated post was added, by git.

An undated post takes the author date of the commit that added its file (as Hugo's
``enableGitInfo`` does), for a source inside a git work tree: a ``git clone`` gives every file
the time of the checkout, so the file's time says nothing; its history does. One ``git log``
per repository and HEAD, memoised in the process; no git, no work tree, or a git that takes too
long: no date, and the file's time is used.
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from feedsvc.config import Config
from feedsvc.hexo import Blog
from feedsvc.ingest.sources import stat_beneath
from feedsvc.model import Article

TIMEOUT = 30  # seconds for one git command; a repository larger than that is left to file times


def _git(folder: Path, *args: str) -> str | None:
    import subprocess  # only for an undated post: 4 ms of every build's start otherwise

    try:
        done = subprocess.run(["git", "-C", str(folder), "-c", "core.quotepath=off", *args], capture_output=True,
                              timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


@functools.lru_cache(maxsize=64)
def _work_tree(folder: Path) -> Path | None:
    top = _git(folder, "rev-parse", "--show-toplevel")
    return Path(top.strip()) if top else None


@functools.lru_cache(maxsize=8)
def _added(top: Path, head: str) -> dict[str, datetime]:
    """Each path (relative to the work tree) and the author date of the newest commit that
    added it: ``git log`` lists newest first."""
    found: dict[str, datetime] = {}
    out = _git(top, "log", "--diff-filter=A", "--no-renames", "--name-only", "--format=%x01%aI", "HEAD") or ""
    for block in out.split("\x01")[1:]:
        lines = block.strip("\n").split("\n")
        try:
            when = datetime.fromisoformat(lines[0].strip())
        except ValueError:
            continue
        for name in lines[1:]:
            if name and name not in found:
                found[name] = when
    return found


def added_date(source: Path, relpath: str) -> datetime | None:
    """When git says the file ``relpath`` below the folder ``source`` was added, or None."""
    top = _work_tree(source.resolve())
    if top is None:
        return None
    head = _git(top, "rev-parse", "HEAD")
    if not head:
        return None
    try:
        key = (source.resolve() / relpath).relative_to(top).as_posix()
    except ValueError:
        return None
    return _added(top, head.strip()).get(key)


def asset_folder(root: str, relpath: str) -> Callable[[str], bool]:
    """Whether a post's asset folder (its path without the extension) holds a regular file of
    that name, never looking through a symlink."""
    folder = relpath.rsplit(".", 1)[0]

    def holds(name: str) -> bool:
        if not name or name.startswith("/") or ".." in name.split("/"):
            return False
        try:
            return stat.S_ISREG(stat_beneath(root, f"{folder}/{name}").st_mode)
        except (OSError, ValueError):
            return False

    return holds


def date_undated(raw: bytes, relpath: str, mtime: datetime, config: Config, folder: Path, blog: Blog,
                   asset: Callable[[str], bool] | None) -> Article:
    """A blog post with no date in its front matter or file name: dated by the commit that
    added it when the source is a git work tree (a clone's file times are the checkout's), else
    by its file's time; either way ``check`` and /healthz say which."""
    from feedsvc.parse.articles import parse_article  # markdown, lxml, nh3: loaded only when a file changed

    added = added_date(folder, relpath)
    article = parse_article(raw, relpath, added or mtime, config, blog, asset)
    source = "the commit that added it (git)" if added else "its file's time"
    note = f"no date in the front matter or the file name: dated {article.published.isoformat()} by {source}"
    return replace(article, warnings=(*article.warnings, note))
