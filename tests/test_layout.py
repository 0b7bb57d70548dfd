"""The shape of the package, read from its source: what docs/architecture.md promises a
newcomer (no import loops, imports at the top, jobs by name, frozen migrations)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from wx_backend import jobs
from wx_backend.jobs import tasks

PACKAGE = Path(__file__).resolve().parent.parent / "wx_backend"
MIGRATIONS = PACKAGE / "migrations" / "versions"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ["wx_backend", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST, module: str, path: Path):
    """(node, imported module) for every import of our own package in ``tree``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            for alias in node.names:
                yield node, f"{base}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    """Module -> modules it imports, with a package's ``__init__`` counted as a module that
    imports what it names (so a loop through a package's re-exports is a loop too)."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = set()
        for _, target in _imports(tree, module, path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target not in (module, "wx_backend"):
                edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_through_others():
    assert _cycle(_graph()) is None


def test_the_graph_check_finds_a_loop_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}

    assert _cycle(graph) == ["a", "b", "c", "a"]


def test_imports_inside_functions_are_few_and_each_says_why():
    """Only where an import saves start-up cost or cannot be at the top; a comment on the
    lines just above says which."""
    inner = []
    for module, path in _modules().items():
        lines = path.read_text(encoding="utf-8").split("\n")
        tree = ast.parse("\n".join(lines))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                above = lines[max(0, node.lineno - 4):node.lineno - 1]
                inner.append((module, node.lineno, any(line.strip().startswith("#")
                                                       for line in above)))

    assert len(inner) <= 8, inner
    assert [(m, n) for m, n, commented in inner if not commented] == []


def test_every_job_named_in_the_catalogue_is_a_task_and_every_task_is_named():
    declared = {name for name, value in vars(tasks).items()
                if inspect.isfunction(value) and value.__module__ == tasks.__name__
                and hasattr(value, "__wrapped__")}

    assert declared == set(jobs.JOBS)
    assert all(kind.queue in jobs.QUEUES for kind in jobs.JOBS.values())


def test_domain_code_enqueues_by_name_and_never_imports_the_catalogue():
    importers = []
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(target.startswith("wx_backend.jobs.tasks")
               for _, target in _imports(tree, module, path)):
            importers.append(module)

    assert importers == []


def test_migrations_import_no_application_code():
    """A migration runs the same in a year: it may not depend on code that moves on."""
    offenders = []
    for path in sorted(MIGRATIONS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [(path.name, name) for name in names if name.startswith("wx_backend")]

    assert offenders == []


def test_the_package_root_holds_only_the_app_plumbing():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))

    assert top == ["__init__.py", "config.py", "extensions.py", "wsgi.py"]


def test_the_migrations_build_exactly_the_tables_the_models_describe(app):
    """Every schema change has its migration: Alembic finds nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from wx_backend.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
