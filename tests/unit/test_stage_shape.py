"""The shape the stage modules must keep: they read inputs, call the library and write outputs.
No stage file exceeds 200 lines, and none defines a torch module, a metric or a table formatter
or imports torch.nn: those live in the library, where they are tested."""

import ast

from conftest import REPO

STAGES = sorted((REPO / "src/gexflow/stages").glob("*.py"))
# names of what a stage must not define: metrics, scores, table and number formatters
FORBIDDEN_NAMES = ("score", "metric", "gamma", "mae", "mse", "table", "format", "mean_sd", "_pm", "summar")


def offences(source: str) -> list[str]:
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b) for b in node.bases}
            if any("Module" in b or "nn." in b for b in bases):
                out.append(f"torch module {node.name}")
            else:
                out.append(f"class {node.name}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(w in node.name.lower()
                                                                             for w in FORBIDDEN_NAMES):
            out.append(f"function {node.name}")
        if isinstance(node, ast.ImportFrom) and node.module and (node.module == "torch.nn" or
                                                                 node.module.startswith("torch.nn.")):
            out.append("imports torch.nn")
        if isinstance(node, ast.ImportFrom) and node.module == "torch" and any(a.name == "nn" for a in node.names):
            out.append("imports torch.nn")
        if isinstance(node, ast.Import) and any(a.name.startswith("torch.nn") for a in node.names):
            out.append("imports torch.nn")
    return out


def test_stage_modules_are_short():
    long = {p.name: n for p in STAGES if (n := len(p.read_text().splitlines())) > 200}
    assert not long, long


def test_stage_modules_define_no_model_metric_or_table_code():
    found = {p.name: o for p in STAGES if (o := offences(p.read_text()))}
    assert not found, found


def test_the_check_finds_planted_offences():
    planted = ("from torch import nn\nimport torch.nn.functional as F\nclass Net(nn.Module):\n    pass\n"
               "def within_gamma(a, b):\n    return 0\ndef comparison_table(s):\n    return s\n")
    assert sorted(offences(planted)) == sorted(["imports torch.nn", "imports torch.nn", "torch module Net",
                                                "function within_gamma", "function comparison_table"])


def test_every_stage_entry_point_is_named_after_a_rule():
    rules = {p.stem for p in (REPO / "scripts").glob("*.py")}
    for p in STAGES:
        public = [n.name for n in ast.parse(p.read_text()).body
                  if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
        assert set(public) <= rules, (p.name, set(public) - rules)
