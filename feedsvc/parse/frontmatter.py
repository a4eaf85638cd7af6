"""Front matter: split a file into its YAML header and body, strictly or leniently.

Mirror jobs write headers that are nearly YAML: unescaped quotes inside a double-quoted
title, stray blank lines. Strict YAML (safe loader only: no tags that run code) comes first;
when it fails, a line reader that knows ``key: value`` and ``- item`` takes over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from feedsvc import yamlload

_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s+(.*))?$")
_ITEM_LINE = re.compile(r"^\s*-\s*(.*)$")
_DELIMITER = re.compile(r"^---[ \t]*$")
_END_LINE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


@dataclass
class Parts:
    meta: dict[str, Any] | None  # None: the file has no front matter at all
    body: str
    warnings: list[str] = field(default_factory=list)


def split(text: str) -> Parts:
    """Front matter and body of normalised text (no BOM, LF line ends). The text is looked at
    line by line only up to the header's end: the body (most of the file) is sliced off whole."""
    start = 0
    while (end := text.find("\n", start)) != -1 and not text[start:end].strip():
        start = end + 1  # blank lines before the header
    first = text[start:] if end == -1 else text[start:end]
    if not first.strip() or not _DELIMITER.match(first):
        return Parts(None, text)
    header_start = len(text) if end == -1 else end + 1
    closing = _END_LINE.search(text, header_start)
    if closing is None:
        return Parts(None, text, ["front matter has no closing '---'; the whole file is read as the body"])
    meta, warnings = parse_header(text[header_start : max(closing.start() - 1, header_start)])
    return Parts(meta, text[closing.end() + 1 :], warnings)


def parse_header(header: str) -> tuple[dict[str, Any], list[str]]:
    """Raises YAMLBudgetError for a header whose aliases expand past its budget: such a file is
    an error, never read leniently (its lines could hold the same bomb's seeds)."""
    try:
        data = yamlload.load(header)
    except yamlload.YAMLBudgetError:
        raise
    except yaml.YAMLError as e:
        problem = str(getattr(e, "problem", None) or e).splitlines()[0]
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        return lenient(header), [f"front matter is not valid YAML{where}: {problem}; read leniently"]
    except (ValueError, OverflowError, RecursionError) as e:  # a value YAML cannot build: `date: 2022-13-45`
        return lenient(header), [f"front matter has a value YAML cannot read ({e}); read leniently"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return lenient(header), ["front matter is not a YAML mapping; read leniently"]
    return {str(k): v for k, v in data.items()}, []


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]  # inner quotes were never escaped: keep them as they are
    return value


def _inline_list(value: str) -> list[str] | None:
    if value.startswith("[") and value.endswith("]"):
        return [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
    return None


def _open_quote(value: str) -> str | None:
    """The quote a value opens and does not close on its own line, if any."""
    if value[:1] in ("'", '"') and (len(value) == 1 or value[-1] != value[0]):
        return value[0]
    return None


def lenient(header: str) -> dict[str, Any]:
    """Read ``key: value`` and ``- item`` lines; quoted values may run over several lines."""
    meta: dict[str, Any] = {}
    key: str | None = None
    lines = iter(header.split("\n"))
    for line in lines:
        if key is not None and line[:1] in (" ", "\t", "-") and (item := _ITEM_LINE.match(line)):
            if not isinstance(meta.get(key), list):
                meta[key] = []
            meta[key].append(_unquote(item.group(1)))
            continue
        match = _KEY_LINE.match(line)
        if not match:
            continue
        key, value = match.group(1), (match.group(2) or "").strip()
        quote = _open_quote(value)
        while quote:
            nxt = next(lines, None)
            if nxt is None:
                break
            value += "\n" + nxt
            quote = None if nxt.rstrip().endswith(quote) else quote
        meta[key] = _inline_list(value) if _inline_list(value) is not None else _unquote(value)
    return meta
