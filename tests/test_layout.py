"""The package's floors: the parser stays light, stages import in one direction, URLs have one home."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "feedsvc"


def loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"{statement}; import sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_the_parser_loads_no_web_server_or_database() -> None:
    # each parse worker imports it: it must not pay for the web stack
    assert loaded_after("import feedsvc.articles", ("werkzeug", "ssl", "flask", "sqlite3")) == []


def test_ascii_names_get_slugs_without_the_pinyin_dictionaries() -> None:
    # pypinyin's dictionaries take 55 MB and most of a second to load: a blog whose categories
    # and tags are all ASCII never needs them
    assert loaded_after("from feedsvc.slugs import auto_slug; auto_slug('Work type')", ("pypinyin",)) == []


def test_the_slug_helper_process_loads_no_config_or_database() -> None:
    # the scan starts it for new CJK names: its start-up is paid by the scan that waits for it
    assert loaded_after("import feedsvc.slugs, feedsvc.workers", ("yaml", "sqlite3", "feedsvc.config")) == []


def test_rendering_needs_no_store() -> None:
    assert loaded_after("import feedsvc.render", ("sqlite3", "feedsvc.index")) == []


def test_serving_and_exporting_feeds_leave_feedgen_unloaded() -> None:
    # feeds are spliced: a head written by feedsvc, entries rendered once. feedgen (with
    # dateutil, 22 ms of a build that writes one feed) is the reference they are tested against
    assert loaded_after("import feedsvc.web, feedsvc.export, feedsvc.site", ("feedgen", "dateutil")) == []


def internal_imports(path: Path) -> set[str]:
    """feedsvc modules imported at module level (imports inside functions are deferred on purpose)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("feedsvc."):
            found.add(node.module.removeprefix("feedsvc."))
    return {name.split(".")[0] for name in found}


def test_no_import_cycle_among_the_stages() -> None:
    graph = {p.stem: internal_imports(p) for p in PACKAGE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, " -> ".join((*trail, module))
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*trail, module))
        done.add(module)

    for module in graph:
        visit(module, ())
    assert "TYPE_CHECKING" not in "".join((PACKAGE / f"{m}.py").read_text() for m in graph if m != "cli")


def test_public_url_paths_are_spelled_only_in_the_url_module() -> None:
    spelled = re.compile(r"/feeds/|/categories/|/tags/|/articles/|/img/|opml\.xml")
    offenders = []
    for path in PACKAGE.glob("*.py"):
        if path.name == "urls.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and spelled.search(node.value):
                offenders.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []
