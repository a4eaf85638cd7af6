"""The house's rules: stage packages that import in the direction the data flows, a store that alone
speaks SQL, small modules, a parser that stays light, and URLs with one home."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "feedsvc"
# the stages in the order the data flows: each imports the floor and the stages before it
STAGES = ("parse", "store", "feeds", "ingest", "render", "images", "ops", "web")
FLOOR_MAX = 12  # modules on the shared floor, feedsvc/*.py


def loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"{statement}; import sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_the_parser_loads_no_web_server_or_database() -> None:
    # each parse worker imports it: it must not pay for the web stack
    assert loaded_after("import feedsvc.parse.articles", ("werkzeug", "ssl", "flask", "sqlite3")) == []


def test_ascii_names_get_slugs_without_the_pinyin_dictionaries() -> None:
    # pypinyin's dictionaries take 55 MB and most of a second to load: a blog whose categories
    # and tags are all ASCII never needs them
    assert loaded_after("from feedsvc.slugs import auto_slug; auto_slug('Work type')", ("pypinyin",)) == []


def test_the_slug_helper_process_loads_no_config_or_database() -> None:
    # the scan starts it for new CJK names: its start-up is paid by the scan that waits for it
    assert loaded_after("import feedsvc.slugs, feedsvc.ingest.pools", ("yaml", "sqlite3", "feedsvc.config")) == []


def test_rendering_needs_no_store() -> None:
    assert loaded_after("import feedsvc.render.documents", ("sqlite3", "feedsvc.store")) == []


def test_serving_and_exporting_feeds_leave_feedgen_unloaded() -> None:
    # feeds are spliced: a head written by feedsvc, entries rendered once. feedgen (with
    # dateutil, 22 ms of a build that writes one feed) is the reference they are tested against
    assert loaded_after("import feedsvc.web.app, feedsvc.ops.export, feedsvc.render.site", ("feedgen", "dateutil")) == []


def modules() -> dict[str, Path]:
    """Every module by its dotted name under the package: ``store.db``, ``config``, ``cli``."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__") or "__init__"] = path
    return found


def internal_imports(path: Path, name: str) -> set[str]:
    """feedsvc modules imported at module level (imports inside functions are deferred on purpose)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module == "feedsvc":
            found |= {alias.name for alias in node.names if alias.name != "__version__"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("feedsvc."):
            found.add(node.module.removeprefix("feedsvc."))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{name}: relative import; feedsvc imports by full name")
    return found


def stage_of(module: str) -> str:
    return module.split(".")[0] if module.split(".")[0] in STAGES else "floor"


def test_stages_import_only_the_floor_and_the_stages_before_them() -> None:
    wrong = []
    for name, path in modules().items():
        if name in ("cli", "__main__"):
            continue  # the entry point brings the stages together
        mine = stage_of(name)
        for imported in internal_imports(path, name):
            theirs = stage_of(imported)
            allowed = theirs == "floor" or (mine != "floor" and STAGES.index(theirs) <= STAGES.index(mine))
            if not allowed:
                wrong.append(f"{name} ({mine}) imports {imported} ({theirs})")
    assert wrong == []
    floor = [p for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(floor) <= FLOOR_MAX, sorted(p.stem for p in floor)


def test_no_import_cycle_among_the_modules() -> None:
    found = modules()
    graph = {name: {i for i in internal_imports(path, name) if i in found} for name, path in found.items()}
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
    assert "TYPE_CHECKING" not in "".join(p.read_text() for n, p in found.items() if n != "cli")


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|BEGIN|COMMIT|ROLLBACK|PRAGMA|CREATE (TABLE|INDEX))\b")


def test_only_the_store_imports_sqlite_or_speaks_sql() -> None:
    offenders = []
    for name, path in modules().items():
        if stage_of(name) == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] == "sqlite3" for n in names):
                    offenders.append(f"{name}:{node.lineno}: imports sqlite3")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                offenders.append(f"{name}:{node.lineno}: {node.value[:50]!r}")
    assert offenders == []


def test_no_module_global_is_rebound_from_a_function() -> None:
    rebound = [f"{name}:{node.lineno}" for name, path in modules().items()
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Global)]
    assert rebound == []


def test_modules_functions_and_classes_stay_small() -> None:
    big = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if (lines := text.count("\n")) > 400:
            big.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                limit = 300 if isinstance(node, ast.ClassDef) else 50
                if (length := (node.end_lineno or node.lineno) - node.lineno + 1) > limit:
                    big.append(f"{name}.{node.name}: {length} lines")
    assert big == []


def test_the_package_docstring_and_the_readme_name_every_module() -> None:
    import feedsvc

    listed = set(re.findall(r"^\s{4}([a-z_.]+)\s{2,}", feedsvc.__doc__ or "", re.M))
    wanted = {name for name in modules() if name not in ("__init__", "__main__") and name not in STAGES}
    assert listed == wanted
    readme = (PACKAGE.parent / "docs" / "layout.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in wanted), sorted(n for n in wanted if f"`{n}`" not in readme)


def test_public_url_paths_are_spelled_only_in_the_url_module() -> None:
    spelled = re.compile(r"/feeds/|/categories/|/tags/|/articles/|/img/|opml\.xml")
    offenders = []
    for name, path in modules().items():
        if name == "urls":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and spelled.search(node.value):
                offenders.append(f"{name}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []
