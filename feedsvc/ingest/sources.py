"""Sources: what the article directories hold right now, and what could not be looked at.

A folder that cannot be listed is *blind*, not empty: the files the index knows below it are
neither missing nor forgotten (an unreadable folder or a vanished mount never unpublishes
anything), and the folder is reported as a problem.
"""

from __future__ import annotations

import errno
import hashlib
import marshal
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from feedsvc.config import Source


class OnDisk(NamedTuple):  # a file the scan reads
    path: str
    relpath: str
    size: int
    mtime_ns: int
    problem: str | None = None  # a file that cannot be taken as it is (its name is not UTF-8)
    source: int = 0  # which of the config's sources it is in


FileRow = tuple[str, int, int]  # (path, size, mtime_ns): a file whose row is the indexed one is not read


@dataclass
class Listing:
    """What the sources hold: per source, a list of plain ``(path, size, mtime_ns)`` rows, the
    shape of the index's own, since a scan that finds nothing new is mostly this walk and one
    comparison. A name that is not UTF-8 is listed as its printable form (see ``shown``) and
    read as an error."""

    walked: list[list[FileRow]] = field(default_factory=list)  # by source number
    spans: list[list[tuple[int, int]]] = field(default_factory=list)  # by source: each folder's rows, [start, end)
    roots: list[str] = field(default_factory=list)  # each source's folder, ending in "/"
    blind: list[str] = field(default_factory=list)  # folders (ending in "/") that could not be listed
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    bad_names: set[str] = field(default_factory=set)  # shown paths of names that are not UTF-8
    folders: dict[str, int] = field(default_factory=dict)  # every folder walked: its mtime_ns, taken before listing it

    @property
    def rows(self) -> list[FileRow]:
        return self.walked[0] if len(self.walked) == 1 else [row for rows in self.walked for row in rows]

    def digest(self) -> str:
        """The walk as one value: the same files with the same sizes and mtimes, listed in the
        same order (a folder nobody wrote to lists in the same order), give the same digest."""
        return hashlib.sha1("\n".join([*self.roots, *self.folder_digests.values()]).encode("utf-8", "surrogatepass")
                            ).hexdigest()

    @cached_property
    def folder_digests(self) -> dict[str, str]:
        """Each folder's rows as one value, by folder, in walk order: two walks differ only in
        the folders whose values differ (a folder no file matches has none)."""
        found: dict[str, Any] = {}
        for rows, spans in zip(self.walked, self.spans, strict=True):
            for start, end in spans:
                # the rows as marshal's bytes, one C call a folder (most folders of a deep tree
                # hold one or two files: zipping, joining and packing each folder's columns took
                # two thirds more); version 2 writes every value in full, never as a reference
                # to an earlier one, so equal rows give equal bytes
                folder, listed = _folder(rows[start][0]), marshal.dumps(rows[start:end], 2)
                if folder in found:
                    found[folder].update(listed)
                else:
                    found[folder] = hashlib.sha1(listed)
        return {folder: value.hexdigest() for folder, value in found.items()}

    def rows_in(self, folders: set[str]) -> list[FileRow]:
        """The rows of the files directly in these folders."""
        return [row for rows, spans in zip(self.walked, self.spans, strict=True) for start, end in spans
                if _folder(rows[start][0]) in folders for row in rows[start:end]]

    def on_disk(self, paths: list[str]) -> list[OnDisk]:
        """These files (listed paths), as the scan reads them; a file under two sources
        belongs to the first."""
        if not paths:
            return []
        wanted, found = set(paths), dict[str, tuple[int, int, int]]()
        for number, rows in reversed(list(enumerate(self.walked))):
            found.update((path, (number, size, mtime_ns)) for path, size, mtime_ns in rows if path in wanted)
        return [self._file(path, *found[path]) for path in paths]

    def _file(self, path: str, number: int, size: int, mtime_ns: int) -> OnDisk:
        if path in self.bad_names:
            relpath = path[len(shown(self.roots[number])):]
            return OnDisk(path, relpath, size, mtime_ns, "the file name is not valid UTF-8; rename the file", number)
        return OnDisk(path, path[len(self.roots[number]):], size, mtime_ns, None, number)


def _folder(path: str) -> str:
    return path.rpartition("/")[0]


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
    """A test of a relative path against the glob."""
    if suffixes := glob_suffixes(glob):
        return lambda relpath: relpath.lower().endswith(suffixes)
    return glob_regex(glob).match


def glob_suffixes(glob: str) -> tuple[str, ...] | None:
    """The usual ``**/*.{a,b}`` is a test of the name's suffix (a regex per file costs a third
    of a scan that finds nothing new)."""
    if match := re.fullmatch(r"\*\*/\*\.\{([\w,]+)\}|\*\*/\*\.(\w+)", glob):
        return tuple("." + s.lower() for s in (match.group(1) or match.group(2)).split(","))
    return None


def shown(path: str) -> str:
    """A path as text that can be stored and printed, whatever bytes its name has."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def list_sources(sources: tuple[Source, ...]) -> Listing:
    listing = Listing()
    for source in sources:
        listing.roots.append(os.path.join(str(source.path), ""))
        listing.spans.append([])
        listing.walked.append(_walk(source, listing))
    return listing


def _walk(source: Source, listing: Listing) -> list[FileRow]:
    """Every matching regular file below a source (no symlinks, no hidden files or folders).
    Each folder is listed from an open descriptor and its files are stat'ed relative to it:
    the kernel then resolves a name, not the whole path again (a tenth off a walk)."""
    suffixes, matcher = glob_suffixes(source.glob), name_matcher(source.glob)
    rows: list[FileRow] = []
    stack = [(str(source.path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            # a folder swapped for a symlink since its parent was listed is not entered (a
            # folder above it swapped too is caught where files are read: read_beneath)
            fd = os.open(folder, _FOLDER_FLAGS if prefix else os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            if prefix and e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                continue  # removed while we walk (a mirror's rm -rf), or now a symlink: not ours
            listing.blind.append(os.path.join(folder, ""))
            what = "source directory" if not prefix else "folder"
            listing.problems.append((shown(folder), f"cannot read this {what}: {e.strerror or e}; its articles stay"
                                                    " published as they were"))
            continue
        try:
            # before the listing: a file added while it is read moves the mtime past this one
            listing.folders[folder] = os.fstat(fd).st_mtime_ns
            base, start = os.path.join(folder, ""), len(rows)
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == ".":
                        continue
                    try:
                        # regular file or folder: from the listing, no system call
                        if entry.is_file(follow_symlinks=False):
                            if name.lower().endswith(suffixes) if suffixes else matcher(prefix + name):
                                st = entry.stat(follow_symlinks=False)
                                rows.append((base + name, st.st_size, st.st_mtime_ns))
                        elif entry.is_dir(follow_symlinks=False):
                            stack.append((base + name, f"{prefix}{name}/"))
                    except OSError:
                        continue  # gone between listing and stat: the next scan sees it
            if len(rows) > start:
                listing.spans[-1].append((start, len(rows)))
        finally:
            os.close(fd)
    return _printable(rows, listing)


def _printable(rows: list[FileRow], listing: Listing) -> list[FileRow]:
    """Names that are not UTF-8 (the OS keeps their bytes as surrogates) become their printable
    form; checked in one go, since they are rare."""
    if _utf8("\0".join([row[0] for row in rows])):
        return rows
    for i, (path, size, mtime_ns) in enumerate(rows):
        if not _utf8(path):
            listing.bad_names.add(path := shown(path))
            rows[i] = (path, size, mtime_ns)
    return rows


def folders_moved(folders: dict[str, int]) -> bool:
    """Whether a file was added, removed or renamed in any of these folders since their mtimes
    were taken (a file edited in place moves only its own mtime)."""
    for folder, mtime_ns in folders.items():
        try:
            if os.stat(folder).st_mtime_ns != mtime_ns:
                return True
        except OSError:
            return True
    return False


def stat_paths(sources: tuple[Source, ...], paths: set[str]) -> Listing:
    """The given paths (reported changed by the watcher) as a listing: those that exist, are
    regular files with no symlink on the way from their source and match their source's glob;
    the rest are gone, elsewhere or not articles (the watcher follows symlinked folders)."""
    listing = Listing(walked=[[] for _ in sources], roots=[os.path.join(str(s.path), "") for s in sources])
    matchers = [name_matcher(source.glob) for source in sources]
    for path in paths:
        number = next((n for n, root in enumerate(listing.roots) if path.startswith(root)), None)
        if number is None:
            continue
        relpath = path[len(listing.roots[number]):]
        if any(part.startswith(".") for part in relpath.split("/")) or not matchers[number](relpath):
            continue
        try:
            st = stat_beneath(listing.roots[number], relpath)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            listing.walked[number].append((path, st.st_size, st.st_mtime_ns))
    listing.walked = [_printable(rows, listing) for rows in listing.walked]
    return listing


# A folder below a source is opened by name relative to its parent's descriptor, never by its
# whole path, and never through a symlink: what is read is what the walk saw, even when a
# folder or file is swapped for a symlink between the listing and the read.
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a file must not hang the read (it is refused once fstat'ed)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _parent_fd(root: str, relpath: str) -> tuple[int, str]:
    """A descriptor of the folder holding ``relpath`` below ``root``, and the file's name;
    OSError (ELOOP, ENOTDIR) when any folder on the way is a symlink. The root itself is the
    operator's choice and may be one."""
    *folders, name = relpath.split("/")
    if not name or any(part in ("", ".", "..") for part in folders) or name in (".", ".."):
        raise OSError(errno.EINVAL, "not a plain relative path", relpath)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for folder in folders:
            inner = os.open(folder, _FOLDER_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd, name


def stat_beneath(root: str, relpath: str) -> os.stat_result:
    """``lstat`` of a file below ``root``; OSError when a folder on the way is a symlink."""
    fd, name = _parent_fd(root, relpath)
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def read_beneath(root: str, relpath: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of a regular file below ``root``, never through a symlink: OSError
    with ELOOP when the file or a folder on the way is one, EINVAL when it is not a regular file."""
    folder, name = _parent_fd(root, relpath)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    finally:
        os.close(folder)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", relpath)
        chunks, left = [], limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _utf8(path: str) -> bool:
    """False for a name that is not UTF-8 (the OS keeps its bytes as surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
