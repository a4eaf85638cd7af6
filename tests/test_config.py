"""Config: the shipped file loads, every key is documented, bad configs name every problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from feedsvc.config import Config, load_config, parse_config
from feedsvc.errors import ConfigError

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "config" / "feedsvc.yaml"


def test_shipped_config_loads_and_points_at_the_bundled_articles() -> None:
    config = load_config(str(SHIPPED), env={})
    assert config.site.timezone == "Asia/Shanghai"
    assert all(source.path.is_dir() for source in config.sources)
    assert {c.slug for c in config.channels} >= {"tech"}


def _keys(model: type, prefix: str = "") -> set[str]:
    keys = set()
    hints = get_type_hints(model)
    for field in dataclasses.fields(model):
        keys.add(prefix + field.name)
        for sub in (hints[field.name], *get_args(hints[field.name])):
            if isinstance(sub, type) and dataclasses.is_dataclass(sub):
                keys |= _keys(sub, f"{prefix}{field.name}.")
    return keys


def test_every_config_key_is_documented_in_the_shipped_file() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    missing = [key for key in _keys(Config) if f"{key.rsplit('.', 1)[-1]}:" not in text]
    assert missing == []


def test_every_problem_is_reported_at_once_by_key_path() -> None:
    data = {
        "site": {"title": "x", "colour": "red", "timezone": "Mars/Olympus"},
        "sources": [{"path": "a"}],
        "feeds": {"limit": "many", "formats": ["rss", "gopher"]},
        "channels": [{"slug": "ok", "title": "ok"}, {"slug": "Bad Slug", "title": "t", "categories": 5},
                     {"slug": "re", "title": "t", "match": "("}],
        "surprise": 1,
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "feedsvc.yaml")
    problems = "\n".join(caught.value.problems)
    for expected in ["site.colour: unknown key", "site.timezone: unknown time zone 'Mars/Olympus'",
                     "feeds.limit: expected an integer", "feeds.formats[1]:", "channels[1].slug:",
                     "channels[1].categories: expected a list", "channels[2].match: not a valid regular expression",
                     "surprise: unknown key"]:
        assert expected in problems
    assert str(caught.value).startswith("feedsvc.yaml: invalid configuration")


def test_sources_are_required() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": {"title": "x"}})
    assert caught.value.problems == ["sources: required key is missing"]


def test_proxy_mode_needs_a_key_from_the_file_or_the_environment() -> None:
    data = {"sources": [{"path": "a"}], "images": {"mode": "proxy"}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.problems == [
        "images: proxy_key: mode 'proxy' needs a key to sign image URLs (or env FEEDSVC_PROXY_KEY)"]
    assert parse_config(data, env={"FEEDSVC_PROXY_KEY": "s3cret"}).images.proxy_key == "s3cret"


def test_template_mode_needs_a_placeholder() -> None:
    with pytest.raises(ConfigError, match="images"):
        parse_config({"sources": [{"path": "a"}], "images": {"mode": "template", "template": "https://x/"}})


def test_channel_slug_all_is_reserved_and_slugs_are_unique() -> None:
    for channels in ([{"slug": "all", "title": "x"}], [{"slug": "a", "title": "x"}, {"slug": "a", "title": "y"}]):
        with pytest.raises(ConfigError, match="used twice or reserved"):
            parse_config({"sources": [{"path": "a"}], "channels": channels})


def test_relative_paths_are_relative_to_the_config_file_and_env_overrides_apply(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "feedsvc.yaml"
    conf.parent.mkdir()
    conf.write_text("sources:\n  - path: ../articles\nstate_dir: state\n", encoding="utf-8")
    config = load_config(str(conf), env={"FEEDSVC_PORT": "9999"})
    assert config.sources[0].path == tmp_path / "articles"
    assert config.state_dir == tmp_path / "conf" / "state"
    assert config.server.port == 9999
    config = load_config(None, env={"FEEDSVC_CONFIG": str(conf), "FEEDSVC_STATE_DIR": str(tmp_path / "s")})
    assert config.state_dir == tmp_path / "s"


def test_unreadable_or_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "nope.yaml"), env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid configuration\n  \(file\): not valid YAML"):
        load_config(str(bad), env={})


def test_a_relative_config_path_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher reports absolute paths and the index keys files by path: both must agree."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "feedsvc.yaml").write_text("sources:\n  - path: ../articles\nstate_dir: state\n",
                                                   encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = load_config("conf/feedsvc.yaml", env={})
    assert config.sources[0].path == tmp_path / "articles" and config.state_dir == tmp_path / "conf" / "state"
