"""The ``feedsvc`` command: a thin layer that turns domain errors into messages and exit codes."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:  # imported inside each command, so `feedsvc --help` starts fast
    from feedsvc.config import Config
    from feedsvc.model import Problem
    from feedsvc.ops.pipeline import Published
    from feedsvc.store import Store

PUSH_WAIT = 60  # seconds `build` waits for the WebSub hubs to take its pings
# granian holds a permit per open connection, an idle keep-alive or a client still sending its
# headers included: with 64 a worker, 128 clients dripping their headers a byte a second left
# feed readers waiting 10 s and more. Connections are cheap in granian's Rust side; the Python
# work stays bounded by the blocking threads. A client gets 5 s to send its headers.
BACKPRESSURE = 1024
HEADER_READ_MS = 5000
# granian waits for each worker to stop, by default for ever. A worker signalled while it was
# still loading the app was seen to miss the stop and keep serving, granian waiting on it until
# the supervisor's grace ran out (a stop of 15 s, exit 247); past this, granian kills it itself.
# Feed requests take milliseconds, so a stop still lets those in flight finish.
WORKER_STOP_SECONDS = 2

config_option = click.option("--config", "config_file", metavar="FILE",
                             help="Config file (default: $FEEDSVC_CONFIG or config/feedsvc.yaml).")


def _load(config_file: str | None) -> Config:
    """The config, or exit 2 naming every problem (a source that is not a directory too)."""
    from feedsvc.config import config_path, load_config, missing_sources
    from feedsvc.errors import ConfigError

    try:
        config = load_config(config_file)
        if missing := missing_sources(config):
            raise ConfigError(str(config_path(config_file, os.environ)), missing)
    except ConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    return config


def _shown(path: str) -> str:
    """Paths below the working directory are shown relative to it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _report(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(f"{_shown(p.path)}: {'' if p.fatal else 'warning: '}{p.message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feedsvc")
def main() -> None:
    """Republish a directory of Hexo-style articles as RSS, Atom and JSON feeds."""


@main.command()
@config_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the static site to.")
@click.option("--strict", is_flag=True, help="Exit 1 when any article is in error.")
def build(config_file: str | None, out_dir: Path, strict: bool) -> None:
    """Scan once and write every feed, page and the OPML to OUT."""
    from feedsvc.atomic import scan_lock

    config = _load(config_file)
    # a running `feedsvc serve` on the same state directory finishes its scan first
    with scan_lock(config.state_dir, wait=True):
        published = _scan_and_export(config, out_dir)
    _report(published.problems)
    if published.topics:
        _push(config, published.topics)
    report, exported = published.report, published.exported
    assert exported is not None  # an export was asked for
    errors = sum(p.fatal for p in published.problems)  # parse errors, and files that lost their id to another
    click.echo(f"{report.seen} files, {report.read} read, {errors} in error; {exported.written} written,"
               f" {exported.unchanged} unchanged, {exported.removed} removed in {out_dir}", err=True)
    if strict and errors:
        sys.exit(1)


@main.command("deploy")
@config_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to build the export in (default: <state_dir>/export).")
@click.option("--dry-run", is_flag=True, help="Print what would be uploaded and deleted; change nothing.")
@click.option("--force", is_flag=True, help="Delete however many objects the export no longer has.")
@click.option("--max-deletes", type=click.IntRange(min=0), help="Refuse to delete more objects than this.")
def deploy_command(config_file: str | None, out_dir: Path | None, dry_run: bool, force: bool,
                   max_deletes: int | None) -> None:
    """Build as `build` does, then make deploy.target (a bucket or folder) equal to the export."""
    from feedsvc.atomic import scan_lock
    from feedsvc.ops.deploy import DeployError, deploy

    config = _load(config_file)
    if not config.deploy.target:
        _fail("deploy.target is not set: name a bucket (s3://, gs://, az://) or a folder (file://) in the config", 2)
    from feedsvc.ops.pipeline import export_dir

    out_dir = out_dir or export_dir(config)
    with scan_lock(config.state_dir, wait=True):
        published = _scan_and_export(config, out_dir)
    _report(published.problems)
    try:
        with _progress("upload") as tick:
            done = deploy(config, out_dir, dry_run=dry_run, force=force, max_deletes=max_deletes, tick=tick,
                          say=lambda line: click.echo(line, err=not dry_run))
    except DeployError as e:
        _fail(str(e), 1)
    if published.topics and not dry_run:
        _push(config, published.topics)  # the hubs fetch from the public URL: the bucket has the new bytes
    verb = "would upload" if dry_run else "uploaded"
    click.echo(f"{verb} {done.uploaded}, {'would delete' if dry_run else 'deleted'} {done.deleted},"
               f" unchanged {done.unchanged} ({config.deploy.target})", err=True)


def _push(config: Config, topics: list[str]) -> None:
    """Tell the WebSub hubs, now that the files are in place (they fetch them next)."""
    from feedsvc.ops.push import Pusher

    pusher = Pusher(config.push.hubs)
    pusher.publish(topics)
    if not pusher.drain(PUSH_WAIT):
        click.echo(f"WebSub: some hubs were not told within {PUSH_WAIT} s; see the log", err=True)


def _scan_and_export(config: Config, out_dir: Path) -> Published:
    """The one path behind ``build`` and ``check``: scan into the index, render every URL. A
    disk that is full or read-only ends it with one line naming the problem (exit 1)."""
    from feedsvc.errors import WorkerDied
    from feedsvc.ops.pipeline import healing, scan_and_publish
    from feedsvc.store import StoreFault

    def run(index: Store, rebuilding: bool) -> Published:
        # a one-off build has no next scan to wait for: it reads files however fresh
        return scan_and_publish(index, config, settle=0, out=out_dir, first=True, ping=True, progress=_progress)

    try:
        return healing(config.state_dir, run, lambda why: click.echo(f"feedsvc: {why}", err=True))
    except WorkerDied as e:
        _fail(f"{e}; run the build again (it carries on from what was done)", 1)
    except OSError as e:
        _fail(f"cannot write {e.filename or out_dir}: {e.strerror or e}", 1)
    except StoreFault as e:  # a full or read-only disk, a lock held too long
        _fail(f"the index in {config.state_dir}: {e}", 1)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], object]]:
    """A progress bar on a terminal; nothing (not even tqdm's import) elsewhere."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(desc=label, unit=" files", leave=False) as bar:
        yield bar.update


@main.command()
@config_option
def check(config_file: str | None) -> None:
    """Validate the config and every article; print each problem as PATH: MESSAGE."""
    import tempfile  # here, not at the top: with what it loads, 5-8 ms of every command's start-up

    from feedsvc.config import Push, zone_warnings

    config = _load(config_file)
    for warning in zone_warnings(config):
        click.echo(f"config: warning: {warning}", err=True)
    # Exactly what `build` does, into a scratch state directory and export: whatever would
    # fail a build fails here, and the duplicate-id rule is the index's own.
    with tempfile.TemporaryDirectory(prefix="feedsvc-check-") as scratch:
        scratch_config = dataclasses.replace(config, state_dir=Path(scratch) / "state", push=Push())  # tells no hub
        published = _scan_and_export(scratch_config, Path(scratch) / "out")
    report, problems = published.report, published.problems
    _report(problems)
    errors = sum(p.fatal for p in problems)
    click.echo(f"{report.seen} files checked: {_count(errors, 'error')}, {_count(len(problems) - errors, 'warning')}",
               err=True)
    sys.exit(1 if errors else 0)


def web_threads(config: Config) -> int:
    """Threads per web worker. Requests are short and hold the GIL: four keep a worker busy.
    The image proxy adds threads that may wait on upstream images beside them; without it, the
    count stays within granian's 2 x cores + 1, so a start logs no warning about it."""
    from feedsvc.images.proxy import UPSTREAM_THREADS

    return 4 + (UPSTREAM_THREADS if config.images.mode == "proxy" else 0)


def granian_limits(threads: int) -> list[str]:
    """The granian options ``serve`` runs its web server with, besides where it listens
    (bench/serve.py runs its bare app with the same, so that it compares apps, not settings)."""
    return ["--blocking-threads", str(threads), "--backpressure", str(BACKPRESSURE),
            "--http1-header-read-timeout", str(HEADER_READ_MS), "--workers-kill-timeout", str(WORKER_STOP_SECONDS)]


@main.command()
@config_option
@click.option("--host", help="Address to listen on (default: server.host, env FEEDSVC_HOST).")
@click.option("--port", type=int, help="Port (default: server.port, env FEEDSVC_PORT).")
@click.option("--workers", type=int, help="Web worker processes (default: server.workers).")
@click.option("--access-log", is_flag=True, help="Log every request.")
def serve(config_file: str | None, host: str | None, port: int | None, workers: int | None, access_log: bool) -> None:
    """Serve the feeds on a production WSGI server, scanning on a schedule."""
    import shutil
    import tempfile

    from feedsvc.config import config_path
    from feedsvc.ops import scheduler, supervisor
    from feedsvc.ops.health import STATUS_ENV, ScannerStatus
    from feedsvc.ops.metrics import MULTIPROCESS_ENV
    from feedsvc.store import StoreFault, open_healed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    config = _load(config_file)
    host, port, workers = host or config.server.host, port or config.server.port, workers or config.server.workers
    env = {**os.environ, "FEEDSVC_CONFIG": str(config_path(config_file, os.environ).resolve()),
           supervisor.SUPERVISOR_PID: str(os.getpid())}
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "feedsvc.web.app:app_from_env",
               "--host", host, "--port", str(port), "--workers", str(workers), "--no-ws", "--log-level", "warning",
               *granian_limits(web_threads(config))]
    if access_log:
        command += ["--access-log", "--log-level", "info"]
    try:
        supervisor.ensure_free(host, port)
        index, healed = open_healed(config.state_dir, verify=True)  # web workers open it read-only: it must exist
        index.close()
    except supervisor.StartError as e:
        _fail(str(e), 2)
    except (OSError, StoreFault) as e:
        _fail(f"state_dir {config.state_dir} cannot be written ({e}); it must be writable by this user", 2)
    # the scanner's own word on itself, for the workers' /healthz: outside the state directory
    runtime = Path(tempfile.mkdtemp(prefix="feedsvc-serve-"))
    env[STATUS_ENV] = str(runtime / "scanner.json")
    status = ScannerStatus(runtime / "scanner.json")
    if healed:  # /healthz says so until the first whole scan has refilled it
        click.echo(f"feedsvc: {healed}", err=True)
        status.set("index", healed)
    if config.metrics:  # every process of the service counts into files there: /metrics adds them up
        (runtime / "metrics").mkdir()
        os.environ[MULTIPROCESS_ENV] = env[MULTIPROCESS_ENV] = str(runtime / "metrics")
    web = supervisor.start(command, env)
    jobs = scheduler.start(config, status)
    click.echo(f"feedsvc: serving on http://{host}:{port}/ with {workers} workers", err=True)
    code = supervisor.supervise(web, group_after=WORKER_STOP_SECONDS + 1)  # past granian's own wait for a worker
    jobs.shutdown(wait=True)
    shutil.rmtree(runtime, ignore_errors=True)
    sys.exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"feedsvc: {message}", err=True)
    sys.exit(code)
