"""Sources: what the article directories hold right now, and what could not be looked at.

A folder that cannot be listed is *blind*, not empty: the files the index knows below it are
neither missing nor forgotten (an unreadable folder or a vanished mount never unpublishes
anything), and the folder is reported as a problem.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .config import Source


class OnDisk(NamedTuple):  # a tuple: one per file on every scan
    path: str
    relpath: str
    size: int
    mtime_ns: int
    problem: str | None = None  # a file that cannot be taken as it is (its name is not UTF-8)
    source: int = 0  # which of the config's sources it is in


@dataclass
class Listing:
    files: list[OnDisk] = field(default_factory=list)
    blind: list[str] = field(default_factory=list)  # folders (ending in "/") that could not be listed
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob with ``**``, ``*``, ``?`` and ``{a,b}`` alternatives, as one regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1 : end].split(",")) + ")"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z", re.IGNORECASE)


def name_matcher(glob: str) -> Callable[[str], object]:
    """A test of a relative path against the glob; the usual ``**/*.{a,b}`` is a suffix test
    (a regex per file costs a third of a scan that finds nothing new)."""
    if match := re.fullmatch(r"\*\*/\*\.\{([\w,]+)\}|\*\*/\*\.(\w+)", glob):
        suffixes = tuple("." + s.lower() for s in (match.group(1) or match.group(2)).split(","))
        return lambda relpath: relpath.lower().endswith(suffixes)
    return glob_regex(glob).match


def shown(path: str) -> str:
    """A path as text that can be stored and printed, whatever bytes its name has."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def list_sources(sources: tuple[Source, ...]) -> Listing:
    listing = Listing()
    for number, source in enumerate(sources):
        _walk(source, number, listing)
    return listing


def _walk(source: Source, number: int, listing: Listing) -> None:
    """Every matching regular file below a source (no symlinks, no hidden files or folders)."""
    matcher = name_matcher(source.glob)
    stack = [(str(source.path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as e:
            if prefix and e.errno == errno.ENOENT:
                continue  # removed while we walk (a mirror's rm -rf): its files are gone
            listing.blind.append(os.path.join(folder, ""))
            what = "source directory" if not prefix else "folder"
            listing.problems.append((shown(folder), f"cannot read this {what}: {e.strerror or e}; its articles stay"
                                                    " published as they were"))
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):  # from the listing: no system call
                        stack.append((entry.path, f"{prefix}{name}/"))
                    elif matcher(relpath := prefix + name):
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(st.st_mode):
                            listing.files.append(_on_disk(entry.path, relpath, st.st_size, st.st_mtime_ns, number))
                except OSError:
                    continue  # gone between listing and stat: the next scan sees it


def stat_paths(sources: tuple[Source, ...], paths: set[str]) -> Listing:
    """The given paths (reported changed by the watcher) as a listing: those that exist, are
    regular files and match their source's glob; the rest are gone or not articles."""
    listing = Listing()
    roots = [(number, os.path.join(str(source.path), ""), name_matcher(source.glob))
             for number, source in enumerate(sources)]
    for path in paths:
        found = next(((n, path[len(root):], match) for n, root, match in roots if path.startswith(root)), None)
        if found is None:
            continue
        number, relpath, match = found
        if any(part.startswith(".") for part in relpath.split("/")) or not match(relpath):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            listing.files.append(_on_disk(path, relpath, st.st_size, st.st_mtime_ns, number))
    return listing


def _on_disk(path: str, relpath: str, size: int, mtime_ns: int, source: int) -> OnDisk:
    try:
        path.isascii() or path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name, kept by the OS as surrogates
        return OnDisk(shown(path), shown(relpath), size, mtime_ns, "the file name is not valid UTF-8; rename the file",
                      source)
    return OnDisk(path, relpath, size, mtime_ns, None, source)
