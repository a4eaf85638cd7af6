"""Deploy: make an object store (S3, GCS, Azure Blob, or a folder) equal to the export, as
``hugo deploy`` does, through obstore (Rust's object_store).

Objects are keyed by URL path, so a bucket or CDN with no rewrite rules serves every URL:
``articles/<id>`` and feed pages carry no ``.html`` (``index.html`` keeps it), and the ``.gz``
siblings are never objects of their own (with ``deploy.gzip`` their bytes are the bodies; an
archive page, written only as ``.gz``, is uploaded inflated without it). Each
object has its Content-Type, Cache-Control (a full archive page: a week, immutable) and, when
gzipped, Content-Encoding.

What is in the target is known from its listing and from a manifest the deploy keeps there
(``MANIFEST``): each key's MD5 and headers as last uploaded. An object is uploaded only when
its bytes or headers differ (or the listing shows it changed behind our back); one the export
no longer has is deleted, at most ``max_deletes`` at once. Uploads go in three waves (pages,
articles and archive pages; then feeds; then the index and OPML) so that nothing links to an
object that is not there yet, and the manifest is written after each wave: a killed deploy
leaves whole objects and the next run finishes the work.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from feedsvc.config import Config
from feedsvc.errors import FeedsvcError
from feedsvc.model import FORMAT_TYPES
from feedsvc.urls import INDEX_PATH, OPML_PATH, archive_of, kind_of

MANIFEST = ".feedsvc-deploy.json"
WEEK = 604_800
_TYPES = {**{f".{fmt}": f"{kind}; charset=utf-8" for fmt, kind in FORMAT_TYPES.items()},
          ".html": "text/html; charset=utf-8", ".xml": "text/x-opml; charset=utf-8",
          ".xsl": "text/xsl; charset=utf-8", ".css": "text/css; charset=utf-8"}
INVALIDATE_TIMEOUT = 300  # seconds the purge command may take


class DeployError(FeedsvcError):
    """The target cannot be reached or written, or the deploy was refused."""


@dataclass(frozen=True)
class Item:
    """One object as the export says it should be."""
    key: str
    file: Path  # the body: the file, or its .gz
    md5: str
    size: int
    headers: dict[str, str]
    wave: int  # 0: pages, articles, archives and assets; 1: feeds; 2: the index and OPML
    inflate: bool = False  # the file is a .gz the export wrote alone, to be uploaded uncompressed

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(json.dumps([self.md5, sorted(self.headers.items())]).encode()).hexdigest()


@dataclass
class Plan:
    uploads: list[Item] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    unchanged: int = 0


def object_key(relpath: str, folder: bool = False) -> str:
    """The URL path of an exported file: ``articles/x.html`` is ``articles/x``; ``index.html``
    stays. A ``folder`` target keeps the file names: there a page and the folder below it (a
    category's page and its children) cannot share a name, and nginx finds ``$uri.html``."""
    if not folder and relpath.endswith(".html") and relpath.rsplit("/", 1)[-1] != "index.html":
        return relpath[: -len(".html")]
    return relpath


def _wave(key: str) -> int:
    """Feeds go after the pages and archive pages they link to, the index and OPML last."""
    path, name = "/" + key, key.rsplit("/", 1)[-1]
    if path in (INDEX_PATH + "index.html", OPML_PATH):
        return 2
    return 1 if kind_of(path) == "feed" and name.rpartition(".")[2] in FORMAT_TYPES else 0


def exported_files(out: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """Each file of the export in ``out`` by its path: (the file, its .gz), either of them
    missing (an archive page is written only as .gz, unless ``export.plain_archives``)."""
    found = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")}
    files: dict[str, tuple[Path | None, Path | None]] = {}
    for relpath, path in found.items():
        if not relpath.endswith(".gz"):
            files[relpath] = (path, found.get(relpath + ".gz"))
        elif relpath[: -len(".gz")] not in found:
            files[relpath[: -len(".gz")]] = (None, path)
    return files


def local_items(out: Path, config: Config, folder: bool = False) -> dict[str, Item]:
    """Every object the export in ``out`` makes, by key (``folder``: see ``object_key``)."""
    files = exported_files(out)
    newest: dict[str, int] = {}  # the newest archive page of each feed and format is still filling
    for relpath in files:
        if found := archive_of("/" + relpath):
            newest[found[0]] = max(newest.get(found[0], 0), found[1])
    items = {}
    for relpath, (plain, gz) in files.items():
        archive = archive_of("/" + relpath)
        full = archive is not None and archive[1] < newest[archive[0]]
        headers = {"Content-Type": _TYPES.get(PurePosixPath(relpath).suffix, "application/octet-stream"),
                   "Cache-Control": f"public, max-age={WEEK}, immutable" if full
                   else f"public, max-age={config.feeds.cache_seconds}"}
        key, inflate = object_key(relpath, folder), False
        if gz is not None and config.deploy.gzip:
            body, headers["Content-Encoding"] = gz, "gzip"
        elif plain is not None:
            body = plain
        else:
            assert gz is not None  # a file is listed with one of the two
            body, inflate = gz, True
        data = body.read_bytes()
        if inflate:  # known by the .gz's own digest and its trailer's size: no deploy inflates gigabytes to compare
            md5, size = "gz-" + hashlib.md5(data).hexdigest(), int.from_bytes(data[-4:], "little")
        else:
            md5, size = hashlib.md5(data).hexdigest(), len(data)
        items[key] = Item(key, body, md5, size, headers, _wave(key), inflate)
    return items


def plan(local: dict[str, Item], listing: dict[str, tuple[int, str]], manifest: dict[str, str]) -> Plan:
    """What to upload (in waves) and delete. ``listing``: key -> (size, ETag) in the target."""
    result = Plan()
    for key in sorted(local, key=lambda k: (local[k].wave, k)):
        item, there = local[key], listing.get(key)
        recorded = manifest.get(key)
        same = there is not None and there[0] == item.size and (
            recorded == item.fingerprint
            # no record (a first deploy over objects put there by a run that was killed, or by
            # hand): an S3 ETag of a one-part upload is the MD5; the headers cannot be known
            or (recorded is None and there[1].strip('"') == item.md5))
        if same:
            result.unchanged += 1
        else:
            result.uploads.append(item)
    result.deletes = sorted(key for key in listing if key not in local and key != MANIFEST)
    return result


@dataclass
class Report:
    uploaded: int
    deleted: int
    unchanged: int
    changed_paths: list[str]


class Target:
    """An object store behind obstore; credentials from the provider's own environment and files."""

    def __init__(self, config: Config) -> None:
        import obstore  # the Rust extension: loaded by deploys only
        from obstore.store import LocalStore, from_url

        self.obstore, settings = obstore, config.deploy
        url = settings.target or ""
        self.local = url.startswith("file://")
        try:
            if self.local:
                self.store: Any = LocalStore(url.removeprefix("file://"), mkdir=True)
            else:
                options: dict[str, Any] = {}
                if settings.endpoint:
                    options["endpoint"] = settings.endpoint
                    options["client_options"] = {"allow_http": settings.endpoint.startswith("http://")}
                if settings.region:
                    options["region"] = settings.region
                self.store = from_url(url, **options)
        except Exception as e:  # noqa: BLE001 - obstore raises its own types for each store
            raise DeployError(f"deploy.target {url}: {e}") from e

    def listing(self) -> dict[str, tuple[int, str]]:
        return {o["path"]: (o["size"], o.get("e_tag") or "") for batch in self.obstore.list(self.store) for o in batch}

    def manifest(self) -> dict[str, str]:
        try:
            found = json.loads(bytes(self.obstore.get(self.store, MANIFEST).bytes()))
        except (FileNotFoundError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def put(self, item: Item) -> None:
        attributes = None if self.local else item.headers  # a folder keeps bytes only
        data = item.file.read_bytes()
        self.obstore.put(self.store, item.key, gzip.decompress(data) if item.inflate else data, attributes=attributes)

    def put_manifest(self, manifest: dict[str, str]) -> None:
        self.obstore.put(self.store, MANIFEST, json.dumps(manifest, sort_keys=True).encode())

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.obstore.delete(self.store, keys[start : start + 1000])


def deploy(config: Config, out: Path, dry_run: bool = False, force: bool = False, max_deletes: int | None = None,
           tick: Callable[[int], object] = lambda n: None, say: Callable[[str], object] = print) -> Report:
    """Make ``deploy.target`` equal to the export in ``out``."""
    target = Target(config)
    local = local_items(out, config, folder=target.local)
    try:
        listing, manifest = target.listing(), target.manifest()
    except Exception as e:  # noqa: BLE001 - the store's own error types
        raise DeployError(f"deploy.target {config.deploy.target}: {e}") from e
    work = plan(local, listing, manifest)
    limit = config.deploy.max_deletes if max_deletes is None else max_deletes
    if len(work.deletes) > limit and not force:
        raise DeployError(f"{len(work.deletes)} objects would be deleted, more than max_deletes ({limit});"
                          " run with --force to delete them, or --max-deletes N")
    if dry_run:
        for item in work.uploads:
            say(f"upload {item.key}")
        for key in work.deletes:
            say(f"delete {key}")
        return Report(len(work.uploads), len(work.deletes), work.unchanged, [])
    wanted = {key: item.fingerprint for key, item in local.items()}
    try:
        _upload(target, work.uploads, dict(manifest), local, config.deploy.uploads, tick)
        if work.deletes:
            target.delete(work.deletes)
        if wanted != manifest:  # a deploy that changed nothing writes nothing
            target.put_manifest(wanted)
    except Exception as e:  # noqa: BLE001 - the store's own error types
        raise DeployError(f"deploy.target {config.deploy.target}: {e}; what was uploaded is whole, and the"
                          " next deploy carries on") from e
    changed = ["/" + key for key in [*(i.key for i in work.uploads), *work.deletes]]
    if changed and config.deploy.invalidate:
        _invalidate(config.deploy.invalidate, changed, say)
    return Report(len(work.uploads), len(work.deletes), work.unchanged, changed)


def _upload(target: Target, uploads: list[Item], manifest: dict[str, str], local: dict[str, Item],
            at_once: int, tick: Callable[[int], object]) -> None:
    """Each wave at once, many objects in parallel; the manifest records each wave when done."""
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="feedsvc-deploy") as pool:
        for wave in (0, 1, 2):
            batch = [item for item in uploads if item.wave == wave]
            for _ in pool.map(target.put, batch):
                tick(1)
            if batch:
                manifest.update({item.key: item.fingerprint for item in batch})
                target.put_manifest({k: v for k, v in manifest.items() if k in local})


def _invalidate(command: Iterable[str], paths: list[str], say: Callable[[str], object]) -> None:
    """Run the CDN purge hook with the changed URL paths as arguments; its failure is said, not raised."""
    try:
        done = subprocess.run([*command, *paths], capture_output=True, timeout=INVALIDATE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"deploy.invalidate: {e}")
        return
    if done.returncode:
        say(f"deploy.invalidate exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:].strip()}")

