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


def missing_images(body: str, asset: Callable[[str], bool], relpath: str) -> list[str]:
    """Relative Markdown images (``![](diagram.png)``, in the post's asset folder) that name no file."""
    found = []
    for target in MD_IMAGE.findall(tagplugins.outside_code(body)):
        name = unquote(target.strip("<>"))
        if not NOT_RELATIVE.match(name) and _asset_name(name, asset, relpath) is None:
            found.append(f"image {name[:80]!r}: no such file in the post's asset folder; the image is broken")
    return found


def _asset_name(name: str, asset: Callable[[str], bool], relpath: str) -> str | None:
    """A relative URL (decoded) as the file of the post's asset folder it names, or None. Hexo
    reads it from the folder (``diagram.png``); Typora and most Markdown editors write it from the
    post's file, so it starts with the folder's name (``my-post/diagram.png``), and the plugins
    such blogs use (hexo-asset-image) drop that first part: the page shows the folder's file."""
    if asset(name):
        return name
    folder = PurePosixPath(relpath).stem + "/"
    return name[len(folder):] if name.startswith(folder) and asset(name[len(folder):]) else None


def in_asset_folder(asset: Callable[[str], bool], relpath: str) -> Callable[[str], str]:
    """A relative URL of the post as its page resolves it: one that names a file of the asset
    folder from the post's file (``my-post/diagram.png``) loses its first part (see ``_asset_name``)."""
    folder = PurePosixPath(relpath).stem + "/"

    def local(url: str) -> str:
        name = unquote(url.strip())
        if not name.startswith(folder) or NOT_RELATIVE.match(name):
            return url
        return url.strip().split("/", 1)[1] if _asset_name(name, asset, relpath) not in (None, name) else url

    return local
