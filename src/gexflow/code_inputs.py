"""Which library files a rule's results depend on, computed from the imports: the rule script's
stage entry point (the stage module's top-level imports, the entry function's own imports and
those of the module's functions it calls), then every gexflow module those import, anywhere in
their bodies, transitively; plus, for a training rule, the model's factory module from the
registry. Editing a file reruns exactly the rules whose closure holds it.

Imported by the Snakefile at parse time: standard library only.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parent  # src/gexflow
PACKAGE = "gexflow"


def module_path(name: str) -> Path | None:
    """The file of a gexflow module (a package's __init__.py), or None if there is none."""
    parts = name.split(".")[1:]
    if not parts:
        return SRC / "__init__.py"
    rel = Path(*parts)
    for p in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if p.is_file():
            return p
    return None


@functools.lru_cache(maxsize=None)
def _tree(name: str) -> ast.Module:
    return ast.parse(module_path(name).read_text())


def _imported(node: ast.AST) -> set[str]:
    """gexflow modules an Import / ImportFrom node names (`from gexflow.models import peers` imports
    the module gexflow.models.peers)."""
    out = set()
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE and not node.level:
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            out.add(sub if module_path(sub) else node.module)
    elif isinstance(node, ast.Import):
        out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    return {m for m in out if module_path(m)}


@functools.lru_cache(maxsize=None)
def module_imports(name: str) -> frozenset[str]:
    """Every gexflow module `name` imports anywhere in its body (function-level imports too)."""
    return frozenset(m for node in ast.walk(_tree(name)) for m in _imported(node) if m != name)


def entry_imports(module: str, function: str) -> set[str]:
    """The gexflow modules an entry point needs (its own module excluded): the module's top-level
    imports, the function's own, and those of the module's functions it calls (transitively)."""
    tree = _tree(module)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    deps = {m for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for m in _imported(node)}
    seen, todo = set(), [function]
    while todo:
        f = todo.pop()
        if f in seen or f not in functions:
            continue
        seen.add(f)
        for node in ast.walk(functions[f]):
            deps |= _imported(node)
            if isinstance(node, ast.Name) and node.id in functions:
                todo.append(node.id)
    return deps - {module}


def closure(modules) -> set[str]:
    """`modules` and every gexflow module they import, transitively, with the packages above them."""
    out, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m in out or module_path(m) is None:  # a namespace package (no __init__.py) runs no code
            continue
        out.add(m)
        todo += module_imports(m)
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b runs a/__init__.py
    return out


def script_entry(script: Path) -> tuple[str, str]:
    """(stage module, entry function) a rule script imports: `from gexflow.stages.x import f`."""
    for node in ast.walk(ast.parse(Path(script).read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{PACKAGE}.stages."):
            return node.module, node.names[0].name
    raise ValueError(f"{script}: imports no stage entry point")


@functools.lru_cache(maxsize=None)
def rule_modules(script: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The gexflow modules a rule's results depend on (sorted)."""
    module, function = script_entry(Path(script))
    # the stage module's own file, but only the imports its entry point needs
    return tuple(sorted(closure(entry_imports(module, function) | {f"{PACKAGE}.runner", *extra}) | {module}))


def rule_code(script: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The library files (absolute paths) a rule's results depend on: its code inputs."""
    return [str(module_path(m)) for m in rule_modules(str(script), tuple(extra))]
