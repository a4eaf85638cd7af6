"""Config: the YAML file parsed once into frozen dataclasses and passed explicitly.

The settings are declared once, as typed dataclass fields with their defaults and checks; one
small validator (``settings``) reads YAML data against them and reports every problem at
once, in plain words, by key path (``channels[1].categories: expected a list``), with "did
you mean" for unknown keys. Plain dataclasses keep every command's start-up fast.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import yaml

from feedsvc import yamlload
from feedsvc.errors import ConfigError
from feedsvc.hexo import Blog, blog_from_config, feed_generator_major
from feedsvc.typedyaml import at_least, between, check, regex, time_zone, validate
from feedsvc.urls import web_url_problem

DEFAULT_PATH = "config/feedsvc.yaml"
DEFAULT_GLOB = "**/*.{md,markdown,html,txt}"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}\Z")
Format = Literal["rss", "atom", "json"]
FORMATS: tuple[Format, ...] = ("rss", "atom", "json")
CategoryRef = str | tuple[str, ...]  # a name (any node of that name) or a path from the root


def _slug(value: str) -> str | None:
    return None if SLUG_RE.match(value) else ("not a valid URL segment (lower-case letters, digits, '.', '_' and '-',"
                                              " starting with a letter or digit)")


def _absolute_url(value: str) -> str | None:
    return web_url_problem(value)


def _one_name_per_slug(value: dict[str, str]) -> str | None:
    """Two names with one slug would be one URL whenever they are siblings."""
    owner: dict[str, str] = {}
    for name, slug in value.items():
        if slug in owner:
            return f"{owner[slug]!r} and {name!r} both map to the slug {slug!r}"
        owner[slug] = name
    return None


@dataclass(frozen=True)
class Site:
    title: str = "feedsvc"
    url: str = field(default="http://127.0.0.1:8080", metadata=check(_absolute_url))
    description: str = "Articles republished as feeds"
    language: str = "en"
    author: str = ""  # the feeds' author; empty: the site's title
    icon: str = field(default="", metadata=check(lambda v: v and _absolute_url(v)))  # the feeds' icon (Atom, RSS, JSON)
    # the zone of dates written without one; unset: UTC (and `check` warns when a Hexo blog has none either)
    timezone: str | None = field(default=None, metadata=check(lambda v: v and time_zone(v)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")


@dataclass(frozen=True)
class Source:
    path: Path
    glob: str = DEFAULT_GLOB
    hexo: Path | None = None  # the blog's _config.yml: url, root, permalink, new_post_name, timezone, ...
    url: str | None = field(default=None, metadata=check(lambda v: v and _absolute_url(v)))
    permalink: str | None = None
    new_post_name: str | None = None
    # what an entry's id (Atom id, RSS guid, JSON id) is: the post's permalink, as
    # hexo-generator-feed writes it, or this site's article page; empty: permalink for a blog
    ids: Literal["permalink", "path"] | None = None


@cache
def blog_of(source: Source) -> Blog | None:
    """The Hexo blog a source is (its links, dates and assets follow the blog's settings), or
    None for a plain directory of articles. Raises ConfigError when ``hexo`` cannot be read."""
    if source.hexo is None and not (source.url or source.permalink or source.new_post_name):
        return None
    data: Any = {}
    if source.hexo is not None:
        try:
            data = yamlload.load(source.hexo.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(str(source.hexo), [f"(file): cannot read the Hexo config: {e}"]) from e
        if not isinstance(data, dict):
            raise ConfigError(str(source.hexo), ["(file): expected a mapping"])
    raw_ids = False
    if source.hexo is not None:  # hexo-generator-feed 1.x wrote ids as text, later versions percent-encoded
        try:
            major = feed_generator_major((source.hexo.parent / "package.json").read_text(encoding="utf-8")[:100_000])
            raw_ids = major is not None and major < 2
        except (OSError, UnicodeDecodeError):
            pass
    blog = blog_from_config(data, url=source.url, permalink=source.permalink, new_post_name=source.new_post_name,
                            raw_ids=raw_ids, ids=source.ids)
    if web_url_problem(blog.url):
        raise ConfigError(str(source.hexo or "config"), [f"url: the blog needs an absolute http(s) URL, not {blog.url!r}"])
    return blog


@dataclass(frozen=True)
class Scan:
    interval: float = field(default=60, metadata=check(at_least(0, strict=True)))
    settle: float = field(default=2, metadata=check(at_least(0)))
    delete_after: float | None = field(default=None, metadata=check(at_least(0)))
    max_file_mb: float = field(default=10, metadata=check(at_least(0, strict=True)))
    watch: bool = True  # serve: scan what changed as soon as it settles, not only every interval

    @property
    def delete_grace(self) -> float:
        """Seconds a missing file stays published: two intervals, at least a minute, unless set
        (a mirror's rm -rf and rewrite takes seconds to minutes)."""
        return max(2 * self.interval, 60) if self.delete_after is None else self.delete_after


@dataclass(frozen=True)
class Feeds:
    limit: int = field(default=20, metadata=check(between(1, 1000)))
    content: Literal["full", "summary"] = "full"
    summary_chars: int = field(default=280, metadata=check(at_least(0)))
    formats: tuple[Format, ...] = FORMATS
    categories: bool = True
    tags: bool = True
    archives: bool = True  # RFC 5005 archive pages behind every feed
    archive_size: int = field(default=50, metadata=check(between(1, 1000)))  # items per archive page
    cache_seconds: int = field(default=300, metadata=check(at_least(0)))  # the least max-age a feed is given
    cache_max_seconds: int = field(default=3600, metadata=check(at_least(0)))  # the most, for the slowest feeds


def _hub_urls(value: tuple[str, ...]) -> str | None:
    return next((f"{url!r}: {problem}" for url in value if (problem := _absolute_url(url))), None)


@dataclass(frozen=True)
class Push:
    hubs: tuple[str, ...] = field(default=(), metadata=check(_hub_urls))  # WebSub hubs pinged on change


def _target(value: str | None) -> str | None:
    if value and not re.match(r"^((s3|gs|az)://[^/\s]|file:///)", value):
        return "must be s3://bucket[/prefix], gs://bucket[/prefix], az://container[/prefix] or file:///folder"
    return None


@dataclass(frozen=True)
class Deploy:
    target: str | None = field(default=None, metadata=check(_target))  # where `feedsvc deploy` puts the export
    endpoint: str | None = field(default=None, metadata=check(lambda v: v and _absolute_url(v)))  # S3-compatible
    region: str | None = None
    gzip: bool = False  # objects hold gzip bodies with Content-Encoding: gzip (the .gz the export wrote)
    max_deletes: int = field(default=256, metadata=check(at_least(0)))  # refuse to delete more, unless --force
    uploads: int = field(default=16, metadata=check(between(1, 256)))  # uploads at once
    invalidate: tuple[str, ...] = ()  # a command run with the changed URL paths as arguments (a CDN purge)


@dataclass(frozen=True)
class Images:
    mode: Literal["original", "template", "proxy", "keep"] = "original"
    unwrap: tuple[str, ...] = ("https://cors.zfour.workers.dev/?",)
    https_hosts: tuple[str, ...] = ()
    template: str | None = None
    proxy_key: str | None = None
    proxy_allow_private: bool = False
    referers: dict[str, str] = field(default_factory=dict)
    proxy_max_mb: float = field(default=15, metadata=check(at_least(0, strict=True)))
    proxy_cache_mb: float = field(default=512, metadata=check(at_least(0, strict=True)))
    proxy_timeout: float = field(default=20, metadata=check(at_least(0, strict=True)))

    def problems(self) -> list[str]:
        found = []
        if self.mode == "template" and not re.search(r"\{(url|raw|url_noscheme)\}", self.template or ""):
            found.append("template: mode 'template' needs a template with {url}, {raw} or {url_noscheme}")
        if self.mode == "proxy" and not self.proxy_key:
            found.append("proxy_key: mode 'proxy' needs a key to sign image URLs (or env FEEDSVC_PROXY_KEY)")
        return found


@dataclass(frozen=True)
class Channel:
    slug: str = field(metadata=check(_slug))
    title: str
    description: str = ""
    categories: tuple[CategoryRef, ...] = ()
    exclude_categories: tuple[CategoryRef, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    match: str | None = field(default=None, metadata=check(regex))
    limit: int | None = field(default=None, metadata=check(between(1, 1000)))


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=check(between(1, 65535)))
    workers: int = field(default=2, metadata=check(between(1, 64)))


@dataclass(frozen=True)
class Filters:
    regex_max: int = field(default=256, metadata=check(at_least(1)))  # the longest regex a URL filter may give


@dataclass(frozen=True)
class Export:
    # archive pages (their feeds and their pages for people: most of an export's bytes, seldom
    # fetched) are written only as .gz, which nginx serves with gzip_static always + gunzip on
    # and deploy uploads; true: also plain
    plain_archives: bool = False


@dataclass(frozen=True)
class Config:
    sources: tuple[Source, ...]
    site: Site = Site()
    scan: Scan = Scan()
    state_dir: Path = Path(".feedsvc")
    feeds: Feeds = Feeds()
    category_slugs: dict[str, str] = field(default_factory=dict, metadata=check(_one_name_per_slug, each=_slug))
    tag_slugs: dict[str, str] = field(default_factory=dict, metadata=check(_one_name_per_slug, each=_slug))
    push: Push = Push()
    images: Images = Images()
    channels: tuple[Channel, ...] = ()
    server: Server = Server()
    filters: Filters = Filters()
    deploy: Deploy = Deploy()
    export: Export = Export()
    metrics: bool = True  # /metrics in the Prometheus text format
    clients: bool = True  # /healthz?clients: how each kind of feed reader polled over the last day

    def problems(self) -> list[str]:
        """What no single key shows: needs between keys."""
        found = [] if self.sources else ["sources: at least one source is needed"]
        found += [f"images: {p}" for p in self.images.problems()]
        seen: set[str] = set()
        for channel in self.channels:
            if channel.slug == "all" or channel.slug in seen:
                found.append(f"channels: slug {channel.slug!r} is used twice or reserved")
            seen.add(channel.slug)
        return found


_ENV_OVERRIDES = {
    "FEEDSVC_STATE_DIR": ("state_dir",),
    "FEEDSVC_HOST": ("server", "host"),
    "FEEDSVC_PORT": ("server", "port"),
    "FEEDSVC_PROXY_KEY": ("images", "proxy_key"),
    "FEEDSVC_SITE_URL": ("site", "url"),
}


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables over the file's keys; returns key path -> variable, so a problem
    with a value from the environment names the variable."""
    named = {}
    for name, keys in _ENV_OVERRIDES.items():
        if name in env:
            section = data
            for key in keys[:-1]:
                section[key] = dict(section.get(key) or {})
                section = section[key]
            section[keys[-1]] = env[name]
            named[".".join(keys)] = name
    return named


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file's own directory (made absolute)."""
    if isinstance(data.get("sources"), list):
        data["sources"] = [_resolve_source(s, base) for s in data["sources"]]
    if isinstance(data.get("state_dir"), str):
        data["state_dir"] = os.path.abspath(base / data["state_dir"])


def _resolve_source(source: Any, base: Path) -> Any:
    if not isinstance(source, dict):
        return source
    # absolute: the watcher reports absolute paths, and the index keys files by path
    return {**source, **{key: os.path.abspath(base / source[key]) for key in ("path", "hexo")
                         if isinstance(source.get(key), str)}}


def parse_config(data: Any, source: str = "config", base: Path = Path("."), env: Mapping[str, str] = {}) -> Config:
    """Validate already-loaded YAML data; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of sections"])
    data = dict(data)
    _resolve_paths(data, base)
    from_env = _apply_env(data, env)
    config, problems = validate(Config, data)
    if config is not None and not problems:
        problems = config.problems()
        for i, each in enumerate(config.sources):
            try:
                blog_of(each)
            except ConfigError as e:
                problems += [f"sources[{i}].hexo: {e.source}: {p.split(': ', 1)[-1]}" for p in e.problems]
    if problems:
        raise ConfigError(source, [_name_variable(p, from_env) for p in problems])
    assert config is not None
    return _with_blog_settings(config, data.get("site") if isinstance(data.get("site"), dict) else {})


def _with_blog_settings(config: Config, given: dict[str, Any]) -> Config:
    """A config with one Hexo blog takes what it leaves unset from the blog's ``_config.yml``:
    the title, description, language and author, and its category_map and tag_map as slugs
    (feedsvc's category URLs then match the blog's own category pages)."""
    blogs = [blog for source in config.sources if source.hexo is not None and (blog := blog_of(source))]
    if len(blogs) != 1:
        return config
    blog = blogs[0]
    settings = {key: getattr(blog, key) for key in ("title", "description", "language", "author")}
    settings["icon"] = _blog_icon(blog, _hexo_file(config))
    site = dataclasses.replace(config.site, **{key: value for key, value in settings.items() if key not in given and value})
    categories = {**{k: v for k, v in blog.category_map.items() if not _slug(v)}, **config.category_slugs}
    tags = {**{k: v for k, v in blog.tag_map.items() if not _slug(v)}, **config.tag_slugs}
    if _one_name_per_slug(categories) or _one_name_per_slug(tags):  # the blog's maps clash with the config's
        categories, tags = config.category_slugs, config.tag_slugs
    return dataclasses.replace(config, site=site, category_slugs=categories, tag_slugs=tags)


def _hexo_file(config: Config) -> Path:
    return next(source.hexo for source in config.sources if source.hexo is not None)


def _blog_icon(blog: Blog, hexo_file: Path) -> str:
    """hexo-generator-feed's ``feed.icon``, else the favicon the blog's ``source`` folder has."""
    if blog.icon:
        return urljoin(blog.root_url, blog.icon.strip())
    for name in ("favicon.ico", "favicon.png", "favicon.svg"):
        if (hexo_file.parent / "source" / name).is_file():
            return blog.root_url + name
    return ""


def _name_variable(problem: str, from_env: dict[str, str]) -> str:
    key, _, message = problem.partition(": ")
    return f"{from_env[key]} (environment, for {key}): {message}" if key in from_env else problem


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
        data = yamlload.load(text)
    except yaml.YAMLError as e:
        raise ConfigError(str(path), [f"(file): not valid YAML: {e}"]) from e
    return parse_config(data, str(path), path.parent, env)


def zone_warnings(config: Config) -> list[str]:
    """A Hexo blog with no ``timezone`` and a config with no ``site.timezone``: the blog's dates
    written without a zone are read as UTC, which is rarely what its writer meant (Hexo used the
    writer's own zone). Said once per blog, by ``check``."""
    if config.site.timezone:
        return []
    return [f"sources[{i}].hexo: {source.hexo}: no timezone here or in site.timezone; its dates without a zone"
            " are read as UTC (set site.timezone to the zone the posts were written in)"
            for i, source in enumerate(config.sources) if source.hexo is not None and (b := blog_of(source)) and not b.timezone]


def missing_sources(config: Config) -> list[str]:
    """Sources that are not readable directories, as config problems (checked where the
    config is used, not where it is parsed: parsing touches no disk)."""
    return [f"sources[{i}].path: no such directory: {s.path}" for i, s in enumerate(config.sources)
            if not os.path.isdir(s.path) or not os.access(s.path, os.R_OK | os.X_OK)]
