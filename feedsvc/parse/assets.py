"""Assets: the files of a Hexo post's asset folder (``post_asset_folder``), as the post names
them in Markdown, and those it names that are not there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from urllib.parse import unquote

from feedsvc.parse import tagplugins

MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*(<[^>\n]+>|[^)\s]+)")
NOT_RELATIVE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:|/|#)")  # a scheme, a root-relative path, a fragment
_LINK = re.compile(r"(!?\[[^\]\n]*\])\(([^)\n]*)\)")
_TITLE = re.compile(r"""\s+("[^"\n]*"|'[^'\n]*')$""")


def bracket_spaced_paths(source: str) -> str:
    """Markdown links and images whose path holds a space (``![](my post/a b.png)``, as Typora
    writes them) in the form CommonMark reads as a link, between angle brackets: Hexo's
    renderer (marked) took them as they are, and CommonMark would leave them as text."""
    return tagplugins.sub_outside_code(_LINK, _bracketed, source) if "](" in source else source


def _bracketed(link: re.Match[str]) -> str:
    path = link.group(2).strip()
    title = _TITLE.search(path)
    path, title_text = (path[: title.start()], title.group(0)) if title else (path, "")
    if path.startswith("<") or not re.search(r"\s", path):
        return link.group(0)
    return f"{link.group(1)}(<{path}>{title_text})"


def missing_images(body: str, asset: Callable[[str], bool], relpath: str) -> list[str]:
    """Relative Markdown images (``![](diagram.png)``, in the post's asset folder) that name no file."""
    found, folder = [], _folder_of(relpath)
    for target in MD_IMAGE.findall(tagplugins.outside_code(body)):
        name = unquote(target.strip("<>"))
        if not NOT_RELATIVE.match(name) and _asset_name(name, asset, folder) is None:
            found.append(f"image {name[:80]!r}: no such file in the post's asset folder; the image is broken")
    return found


def _folder_of(relpath: str) -> str:
    """The name of a post's asset folder as its links start with it: ``my-post/``."""
    return PurePosixPath(relpath).stem + "/"


def _asset_name(name: str, asset: Callable[[str], bool], folder: str) -> str | None:
    """A relative URL (decoded) as the file of the post's asset folder it names, or None. Hexo
    reads it from the folder (``diagram.png``); Typora and most Markdown editors write it from the
    post's file, so it starts with the folder's name (``my-post/diagram.png``), and the plugins
    such blogs use (hexo-asset-image) drop that first part: the page shows the folder's file."""
    if asset(name):
        return name
    return name[len(folder):] if name.startswith(folder) and asset(name[len(folder):]) else None


def in_asset_folder(asset: Callable[[str], bool], relpath: str) -> Callable[[str], str]:
    """A URL of the post as its page resolves it: one that names a file of the asset folder from
    the post's file (``my-post/diagram.png``), or from the root (``/my-post/diagram.png``), is
    that file: hexo-asset-image drops the folder's name from both (see ``_asset_name``)."""
    folder = _folder_of(relpath)

    def local(url: str) -> str:
        path = url.strip()
        path = path[1:] if path.startswith("/") and not path.startswith("//") else path
        name = unquote(path)
        if not name.startswith(folder) or NOT_RELATIVE.match(name):
            return url
        return path.split("/", 1)[1] if _asset_name(name, asset, folder) not in (None, name) else url

    return local
