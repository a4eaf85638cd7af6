"""Config: the YAML file parsed once into frozen, validated models and passed explicitly."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

DEFAULT_PATH = "config/feedsvc.yaml"
DEFAULT_GLOB = "**/*.{md,markdown,html,txt}"
SLUG_RE = r"^[a-z0-9][a-z0-9._-]*$"
Slug = Annotated[str, Field(pattern=SLUG_RE, max_length=100)]
Format = Literal["rss", "atom", "json"]
FORMATS: tuple[Format, ...] = ("rss", "atom", "json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Site(_Model):
    title: str = "feedsvc"
    url: str = "http://127.0.0.1:8080"
    description: str = "Articles republished as feeds"
    language: str = "en"
    timezone: str = "UTC"

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}") from e
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Source(_Model):
    path: Path
    glob: str = DEFAULT_GLOB


class Scan(_Model):
    interval: float = Field(60, gt=0)
    settle: float = Field(2, ge=0)
    delete_after: float | None = Field(None, ge=0)

    @property
    def delete_grace(self) -> float:
        """Seconds a missing file stays published; two intervals unless set."""
        return 2 * self.interval if self.delete_after is None else self.delete_after


class Feeds(_Model):
    limit: int = Field(20, ge=1, le=1000)
    content: Literal["full", "summary"] = "full"
    summary_chars: int = Field(280, ge=0)
    formats: tuple[Format, ...] = FORMATS
    categories: bool = True
    tags: bool = True
    cache_seconds: int = Field(300, ge=0)


class Images(_Model):
    mode: Literal["original", "template", "proxy", "keep"] = "original"
    unwrap: tuple[str, ...] = ("https://cors.zfour.workers.dev/?",)
    https_hosts: tuple[str, ...] = ()
    template: str | None = None
    proxy_key: str | None = None
    proxy_allow_private: bool = False
    referers: dict[str, str] = {}
    proxy_max_mb: float = Field(15, gt=0)
    proxy_cache_mb: float = Field(512, gt=0)
    proxy_timeout: float = Field(20, gt=0)

    @model_validator(mode="after")
    def _mode_needs(self) -> Images:
        if self.mode == "template":
            if not self.template or not re.search(r"\{(url|raw|url_noscheme)\}", self.template):
                raise ValueError("template: mode 'template' needs a template with {url}, {raw} or {url_noscheme}")
        if self.mode == "proxy" and not self.proxy_key:
            raise ValueError("proxy_key: mode 'proxy' needs a key to sign image URLs (or env FEEDSVC_PROXY_KEY)")
        return self


CategoryRef = str | tuple[str, ...]  # a name (any node of that name) or a path from the root


class Channel(_Model):
    slug: Slug
    title: str
    description: str = ""
    categories: tuple[CategoryRef, ...] = ()
    exclude_categories: tuple[CategoryRef, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    match: str | None = None
    limit: int | None = Field(None, ge=1, le=1000)

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from e
        return value


class Server(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(2, ge=1, le=64)


class Config(_Model):
    site: Site = Site()
    sources: tuple[Source, ...] = Field(min_length=1)
    scan: Scan = Scan()
    state_dir: Path = Path(".feedsvc")
    feeds: Feeds = Feeds()
    category_slugs: dict[str, Slug] = {}
    tag_slugs: dict[str, Slug] = {}
    images: Images = Images()
    channels: tuple[Channel, ...] = ()
    server: Server = Server()

    @field_validator("category_slugs", "tag_slugs")
    @classmethod
    def _one_name_per_slug(cls, value: dict[str, str]) -> dict[str, str]:
        """Two names with one slug would be one URL whenever they are siblings."""
        owner: dict[str, str] = {}
        for name, slug in value.items():
            if slug in owner:
                raise ValueError(f"{owner[slug]!r} and {name!r} both map to the slug {slug!r}")
            owner[slug] = name
        return value

    @model_validator(mode="after")
    def _unique_channels(self) -> Config:
        seen: set[str] = set()
        for channel in self.channels:
            if channel.slug == "all" or channel.slug in seen:
                raise ValueError(f"channels: slug {channel.slug!r} is used twice or reserved")
            seen.add(channel.slug)
        return self


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_pattern_mismatch": "not a valid URL segment (lower-case letters, digits, '.', '_' and '-', starting with"
                               " a letter or digit)",
}


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if p not in ("function-after",))
        message = _MESSAGES.get(item["type"], item["msg"].removeprefix("Value error, "))
        problems.append(f"{_key_path(loc)}: {message}")
    return problems


_ENV_OVERRIDES = {
    "FEEDSVC_STATE_DIR": ("state_dir",),
    "FEEDSVC_HOST": ("server", "host"),
    "FEEDSVC_PORT": ("server", "port"),
    "FEEDSVC_PROXY_KEY": ("images", "proxy_key"),
}


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, keys in _ENV_OVERRIDES.items():
        if name in env:
            section = data
            for key in keys[:-1]:
                section = section.setdefault(key, {})
            section[keys[-1]] = env[name]


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file's own directory."""
    for source in data.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("path"), str):
            source["path"] = os.path.normpath(base / source["path"])
    if isinstance(data.get("state_dir"), str):
        data["state_dir"] = os.path.normpath(base / data["state_dir"])


def parse_config(data: Any, source: str = "config", base: Path = Path("."), env: Mapping[str, str] = {}) -> Config:
    """Validate already-loaded YAML data; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of sections"])
    data = dict(data)
    _resolve_paths(data, base)
    _apply_env(data, env)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, _problems(e)) from e


def config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    return Path(explicit or env.get("FEEDSVC_CONFIG") or DEFAULT_PATH)


def load_config(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file named by ``--config``, ``FEEDSVC_CONFIG`` or the default path."""
    env = os.environ if env is None else env
    path = config_path(explicit, env)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), [f"(file): cannot read: {e.strerror or e}"]) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(str(path), [f"(file): not valid YAML: {e}"]) from e
    return parse_config(data, str(path), path.parent, env)
