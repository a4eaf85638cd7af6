"""Shared fixtures: real article files copied into a temporary tree, configs, builds."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feedsvc.config import Config, parse_config
from feedsvc.ingest.scan import scan
from feedsvc.ops.export import export
from feedsvc.store import Store

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"
SEED = DATA / "seed" / "000_79e926f4911b19ff.txt"
HOSTILE = DATA / "hostile"


def real_posts() -> list[Path]:
    return sorted(p for p in REAL.rglob("*.md"))


def make_config(articles: Path, state: Path, **sections: Any) -> Config:
    data = {"site": {"title": "Test mirror", "url": "https://feeds.example.com", "timezone": "Asia/Shanghai"},
            "sources": [{"path": str(articles)}], "state_dir": str(state)}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """An empty article directory."""
    path = tmp_path / "articles"
    path.mkdir()
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The seed and the 24 real posts, byte for byte, in a fresh directory."""
    path = tmp_path / "corpus"
    shutil.copytree(REAL, path)
    shutil.copy(SEED, path / SEED.name)
    return path


@pytest.fixture
def built(tmp_path: Path) -> Callable[..., Path]:
    """build(articles_dir, **config sections) -> export directory, with its own state."""
    counter = iter(range(1000))

    def build(source: Path, **sections: Any) -> Path:
        n = next(counter)
        out = tmp_path / f"out{n}"
        build_once(make_config(source, tmp_path / f"state{n}", **sections), out)
        return out

    return build


def build_once(config: Config, out: Path) -> None:
    """What ``feedsvc build`` does: scan into the config's index, export into ``out``."""
    index = Store.open(config.state_dir)
    try:
        scan(index, config, settle=0)
        export(index, config, out)
    finally:
        index.close()


def require(program: str) -> str:
    """Path of a system program the test drives; CI installs them all (.ci/run), so there a
    missing one is a failure, while a developer without it sees the test skipped with the reason."""
    import os
    import shutil

    path = shutil.which(program)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed; .ci/run installs it")
        pytest.skip(f"{program} is not installed (make system-deps installs it)")
    return path
