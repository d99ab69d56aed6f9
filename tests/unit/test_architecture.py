"""The shape of the library: stage modules on top, library modules below that never import a
stage, no import cycle (lazy imports inside functions included), rule scripts that call stage
modules only, the model registry as the one list of model names, and ruff clean."""

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from gexflow.models.registry import MODELS, models, trainable

from conftest import REPO

SRC = REPO / "src" / "gexflow"


def module_name(path: Path) -> str:
    parts = ("gexflow",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> gexflow modules it imports anywhere in its body (function-level imports too)."""
    mods = {module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gexflow"):
                for alias in node.names:  # `from gexflow.models import peers` imports a module
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("gexflow")}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert "gexflow.stages.generate" in graph and "gexflow.metrics.synthetic" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_modules_never_import_a_stage_module():
    offenders = {m: sorted(d for d in deps if d.startswith("gexflow.stages"))
                 for m, deps in import_graph().items() if not m.startswith("gexflow.stages")}
    assert not {m: d for m, d in offenders.items() if d}


def test_rule_scripts_call_stage_modules_only():
    """Each script is a thin adapter: it imports a stage module (and the runner), nothing else of gexflow."""
    for script in sorted((REPO / "scripts").glob("*.py")):
        used = {n.module for n in ast.walk(ast.parse(script.read_text()))
                if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("gexflow")}
        assert used and all(m.startswith("gexflow.stages.") or m == "gexflow.runner" for m in used), (script, used)
        assert any(m.startswith("gexflow.stages.") for m in used), script


def test_registry_is_import_light():
    """The Snakefile imports the registry, the settings and the config layer at parse time: no
    torch, pandas or numpy behind them."""
    code = ("import sys; import gexflow.models.registry, gexflow.models.settings, gexflow.config; "
            "print(','.join(m for m in ('torch', 'pandas', 'numpy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_schema_model_enums_equal_the_registry():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    gen = schema["properties"]["generate"]["properties"]
    assert gen["models"]["items"]["enum"] == trainable("generate")
    assert gen["models"]["default"] == trainable("generate")
    exp = gen["experiments"]["additionalProperties"]["properties"]
    assert exp["models"]["items"]["enum"] == trainable("generate")
    assert sorted(gen["settings"]["properties"]) == sorted(trainable("generate"))
    assert models("generate", "reference") == ["real_train"]
    inf = schema["properties"]["infer"]["properties"]
    assert inf["models"]["items"]["enum"] == inf["models"]["default"] == trainable("infer")
    assert inf["experiments"]["additionalProperties"]["properties"]["models"]["items"]["enum"] == trainable("infer")
    assert inf["predict"]["additionalProperties"]["properties"]["model"]["enum"] == trainable("infer")
    assert sorted(inf["settings"]["properties"]) == sorted(trainable("infer"))
    emb = schema["properties"]["embed"]["properties"]
    # embed: the factorized embedding (settings: embed.settings) and the baselines it is compared with
    assert models("embed", "torch") == ["factorized"]
    assert emb["evaluation"]["properties"]["baselines"]["items"]["enum"] == [m for m in models("embed")
                                                                           if m != "factorized"]
    # every trainable model's settings block is its dataclass: tests/unit/test_config.py


def test_every_registered_factory_builds_a_class():
    """The registry's lazy "module:Class" paths resolve (the files themselves: test_code_inputs)."""
    import inspect

    from gexflow.models.registry import model_class

    with_factory = [m for m in MODELS.values() if m.factory]
    assert {m.name for m in with_factory} >= set(trainable("generate")) | set(trainable("infer")) - {"pca", "nmf"}
    for m in with_factory:
        cls = model_class(m.name)
        assert inspect.isclass(cls) and cls.__name__ == m.factory.split(":")[1], m.name
    assert not [m.name for m in MODELS.values() if m.kind == "torch" and not m.factory]


def test_rule_scripts_are_named_after_their_rule_and_entry_point():
    """scripts/<rule>.py imports the stage entry point <rule> and hands it to run_rule."""
    from gexflow.code_inputs import script_entry

    rules = {m for smk in (REPO / "workflow/rules").glob("*.smk")
             for m in __import__("re").findall(r'"\.\./\.\./scripts/(\w+)\.py"', smk.read_text())}
    scripts = {p.stem for p in (REPO / "scripts").glob("*.py")}
    assert rules == scripts, rules ^ scripts
    for script in sorted((REPO / "scripts").glob("*.py")):
        _, entry = script_entry(script)
        assert entry == script.stem, (script.name, entry)
        assert f"run_rule(snakemake, {entry})" in script.read_text(), script.name


def test_ruff_is_clean():
    ruff = str(Path(sys.executable).parent / "ruff")
    r = subprocess.run([ruff, "check", "src", "scripts", "benchmarks", "tests"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
