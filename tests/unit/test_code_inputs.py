"""gexflow.code_inputs: a rule's code inputs are the import closure of its script's stage entry
point (plus a training rule's model class), so editing a library file reruns exactly the rules
that import it, directly or through other library modules."""

from pathlib import Path

from gexflow import code_inputs as ci
from gexflow.models.registry import MODELS, factory_module

from conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


def modules(rule, *extra):
    return {m.removeprefix("gexflow.") for m in ci.rule_modules(str(REPO / "scripts" / f"{rule}.py"), extra)}


def test_every_script_names_one_stage_entry_point_and_its_closure_exists():
    for script in SCRIPTS:
        module, function = ci.script_entry(script)
        assert module.startswith("gexflow.stages.") and function == script.stem, script
        files = ci.rule_code(str(script))
        assert all(Path(f).is_file() for f in files)
        assert {"runner", "errors", "io", module.removeprefix("gexflow.")} <= modules(script.stem)


def test_closures_follow_lazy_imports_and_stop_at_the_entry_point():
    assert "selection" in modules("select_genes")
    assert "selection" in modules("report_embedding")  # KEGG pathway groups of the gene embedding
    assert "selection" not in modules("train_embedding")  # the stage module imports it, this entry point not
    assert "plots" not in modules("train_generator") and "plots" in modules("compare_generators")
    assert "metrics.synthetic" in modules("train_generator")  # the validation score picks the checkpoint
    assert "models.wgan_gp" not in modules("train_generator")
    assert "models.wgan_gp" in modules("train_generator", factory_module("wgan_gp"))
    assert "models.layers" in modules("train_generator", factory_module("wgan_gp"))  # through wgan_gp


def test_every_model_with_a_class_has_an_existing_factory_module():
    for name, info in MODELS.items():
        if info.factory:
            assert ci.module_path(factory_module(name)) is not None, name


def test_a_new_lazy_import_enters_the_closure(tmp_path, monkeypatch):
    """Planted: a library module whose function imports another lazily."""
    pkg = tmp_path / "gexflow"
    (pkg / "stages").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from gexflow import b\n")
    (pkg / "b.py").write_text("")
    (pkg / "stages" / "s.py").write_text("from gexflow import a\n\ndef rule_x(job):\n    helper()\n\n"
                                         "def helper():\n    from gexflow import c\n\ndef other(job):\n"
                                         "    from gexflow import d\n")
    (pkg / "c.py").write_text("")
    (pkg / "d.py").write_text("")
    monkeypatch.setattr(ci, "SRC", pkg)
    ci._tree.cache_clear()
    ci.module_imports.cache_clear()
    try:
        got = ci.closure(ci.entry_imports("gexflow.stages.s", "rule_x"))
        assert {"gexflow.a", "gexflow.b", "gexflow.c"} <= got and "gexflow.d" not in got
    finally:
        ci._tree.cache_clear()
        ci.module_imports.cache_clear()
