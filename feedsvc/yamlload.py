"""YAML with a budget: every YAML feedsvc reads (front matter, Hexo configs, its own config)
comes through here.

The safe loader builds no objects from tags, and libyaml's parser bounds nesting, but an
alias is built once and shared: nine levels of ``&a [*b, *b, ...]`` load in microseconds
into a value that ``str()``, a JSON dump or a walk expands to gigabytes. So after loading,
the value's *expanded* size (a node per value, plus each string's characters) is counted,
each shared value once, and a document past its budget is refused, as is a recursive alias.
"""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MIN_BUDGET = 100_000  # an expanded size any document may reach; beyond it, twice its own length


class YAMLBudgetError(yaml.YAMLError):
    """A document whose aliases expand it past its budget, or refer to themselves."""


def load(text: str) -> Any:
    """The one YAML document in ``text``, as plain data; YAMLBudgetError when its aliases
    would expand it to more than ``max(MIN_BUDGET, 2 * len(text))`` nodes and characters."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if "*" in text:  # no "*", no alias: every value then stands in the text once (a tenth of a front matter's load)
        expanded_size(data, max(MIN_BUDGET, 2 * len(text)))
    return data


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return None


def expanded_size(root: Any, limit: int) -> int:
    """Nodes plus string characters of ``root`` as if every alias were copied out, counted
    in time linear in the distinct values (each is sized once, by identity)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # containers whose children are being sized: met again, a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        value, sized_children = stack.pop()
        key = id(value)
        if key in sizes:
            continue
        children = _children(value)
        if children is None:
            sizes[key] = len(value) + 1 if isinstance(value, (str, bytes)) else 1
        elif sized_children:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > limit:
                raise YAMLBudgetError(f"its aliases expand it past {limit:,} values and characters"
                                      " (an alias bomb?); not read")
        elif key in open_:
            raise YAMLBudgetError("an alias refers to itself (a recursive value); not read")
        else:
            open_.add(key)
            stack.append((value, True))
            stack.extend((child, False) for child in children)
    return sizes[id(root)]
