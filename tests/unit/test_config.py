"""The config layer: `python -m gexflow.config` (make check-config) stops a misspelled or mistyped
setting of every model family, a bad grid, a misspelled baseline, duplicate YAML keys, a
results_dir inside the repository's own directories and an empty label with one line naming
the file, the key as the user wrote it and the fix; the shipped configs pass. The per-model
settings (gexflow.models.settings) agree with the schema, with what the model code reads and
with ctgan's constructors."""

import ast
import copy
import dataclasses
import inspect
import os
import subprocess
import sys
import typing

import pytest
import yaml

from gexflow import config as C
from gexflow.errors import InputError
from gexflow.models import settings as S
from gexflow.models.registry import models, trainable

from conftest import REPO, TINY_CONFIG

SRC = REPO / "src" / "gexflow"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA_DATA = yaml.safe_load(SCHEMA.read_text())


def cli(*files, cwd=REPO):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "gexflow.config", *map(str, files)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def check_user_yaml(tmp_path, text: str):
    """Run the CLI on config/config.yaml with `text` as the user's file merged over it."""
    user = tmp_path / "my.yaml"
    user.write_text(text)
    return user, cli("config/config.yaml", user)


def one_error_line(r, file, field, *words) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    line = lines[0]
    assert line.startswith(f"gexflow: {file}: field '{field}': "), line
    assert ". Fix: " in line, line
    for w in words:
        assert w in line, (w, line)
    return line


# ------------------------------------------------------------------------ per-model settings (CLI)
# (user yaml merged over config/config.yaml, field as written, words the line must hold)
FAMILY_CASES = [
    # WGAN-GP
    ("generate:\n  settings:\n    wgan_gp: {epochz: 3}\n", "generate.settings.wgan_gp.epochz",
     ["unknown setting 'epochz' of wgan_gp", "did you mean 'epochs'?", "valid settings of wgan_gp: epochs, z_dim"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {wgan_gp: {epochz: 3}}\n",
     "generate.experiments.kirc_rcc.settings.wgan_gp.epochz", ["unknown setting 'epochz'", "did you mean 'epochs'?"]),
    ("generate:\n  settings:\n    wgan_gp: {epochs: '3'}\n", "generate.settings.wgan_gp.epochs",
     ["'3' is a string; epochs takes an integer", "without quotes"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {wgan_gp: {epochs: true}}\n",
     "generate.experiments.kirc_rcc.settings.wgan_gp.epochs", ["true is a boolean; epochs takes an integer"]),
    # CVAE
    ("generate:\n  settings:\n    cvae: {latent: 8}\n", "generate.settings.cvae.latent",
     ["unknown setting 'latent' of cvae", "did you mean 'latent_dim'?"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {cvae: {warmup: 5}}\n",
     "generate.experiments.kirc_rcc.settings.cvae.warmup", ["did you mean 'warmup_epochs'?"]),
    ("generate:\n  settings:\n    cvae: {batchnorm: 1}\n", "generate.settings.cvae.batchnorm",
     ["1 is an integer; batchnorm takes true or false"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {cvae: {lr: 1e-3}}\n",
     "generate.experiments.kirc_rcc.settings.cvae.lr",
     ["'1e-3' is a string; lr takes a number", "`lr: 1.0e-3`"]),
    # diffusion
    ("generate:\n  settings:\n    diffusion: {timestep: 50}\n", "generate.settings.diffusion.timestep",
     ["unknown setting 'timestep' of diffusion", "did you mean 'timesteps'?"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {diffusion: {guidence: [0.0]}}\n",
     "generate.experiments.kirc_rcc.settings.diffusion.guidence", ["did you mean 'guidance'?"]),
    ("generate:\n  settings:\n    diffusion: {prediction: noise}\n", "generate.settings.diffusion.prediction",
     ["'noise' is not one of x0, eps"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {diffusion: {guidance: [0.0, high]}}\n",
     "generate.experiments.kirc_rcc.settings.diffusion.guidance",
     ["holds 'high', a string; guidance takes a list of numbers"]),
    # CTGAN (its constructor's keywords)
    ("generate:\n  settings:\n    ctgan: {epoch: 3}\n", "generate.settings.ctgan.epoch",
     ["unknown setting 'epoch' of ctgan", "did you mean 'epochs'?", "keyword arguments of ctgan.CTGAN"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {ctgan: {generator_dims: [64]}}\n",
     "generate.experiments.kirc_rcc.settings.ctgan.generator_dims", ["did you mean 'generator_dim'?"]),
    ("generate:\n  settings:\n    ctgan: {epochs: '3'}\n", "generate.settings.ctgan.epochs",
     ["'3' is a string; epochs takes an integer"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {tvae: {batch_size: 50.5}}\n",
     "generate.experiments.kirc_rcc.settings.tvae.batch_size", ["50.5 is a number; batch_size takes an integer"]),
    # Gaussian
    ("generate:\n  settings:\n    gaussian: {min_clas: 2}\n", "generate.settings.gaussian.min_clas",
     ["unknown setting 'min_clas' of gaussian", "did you mean 'min_class'?"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      settings: {gaussian: {min_class: 2.5}}\n",
     "generate.experiments.kirc_rcc.settings.gaussian.min_class", ["2.5 is a number; min_class takes an integer"]),
    # ridge
    ("infer:\n  settings:\n    ridge: {alpha: [1, 10]}\n", "infer.settings.ridge.alpha",
     ["unknown setting 'alpha' of ridge", "did you mean 'alphas'?"]),
    ("infer:\n  experiments:\n    pancan11_l1000:\n      settings: {ridge: {alphas: 10}}\n",
     "infer.experiments.pancan11_l1000.settings.ridge.alphas",
     ["10 is an integer; alphas takes a list of numbers", "`alphas: [10]`"]),
    # D-GEX
    ("infer:\n  settings:\n    dgex_mlp: {epoch: 3}\n", "infer.settings.dgex_mlp.epoch",
     ["unknown setting 'epoch' of dgex_mlp", "did you mean 'epochs'?"]),
    ("infer:\n  experiments:\n    hsmm_l1000:\n      settings: {dgex_mlp: {los: mse}}\n",
     "infer.experiments.hsmm_l1000.settings.dgex_mlp.los", ["did you mean 'loss'?"]),
    ("infer:\n  settings:\n    dgex_mlp: {hidden: '1000'}\n", "infer.settings.dgex_mlp.hidden",
     ["'1000' is a string; hidden takes a list of integers"]),
    ("infer:\n  experiments:\n    hsmm_l1000:\n      settings: {dgex_residual: {optimiser: adamm}}\n",
     "infer.experiments.hsmm_l1000.settings.dgex_residual.optimiser",
     ["'adamm' is not one of adam, adamw, sgd", "did you mean 'adam'?"]),
    ("infer:\n  learned: {group_lasso: [0.1, strong]}\n", "infer.learned.group_lasso",
     ["holds 'strong', a string; group_lasso takes a number or a list of numbers"]),
    # factorized embedding
    ("embed:\n  settings: {gene_dimm: 8}\n", "embed.settings.gene_dimm",
     ["unknown setting 'gene_dimm' of factorized", "did you mean 'gene_dim'?"]),
    ("embed:\n  experiments:\n    gtex26_fe:\n      settings: {epoch: 3}\n",
     "embed.experiments.gtex26_fe.settings.epoch", ["did you mean 'epochs'?"]),
    ("embed:\n  settings: {epochs: '30'}\n", "embed.settings.epochs", ["'30' is a string; epochs takes an integer"]),
    ("embed:\n  experiments:\n    gtex26_fe:\n      settings: {lr: '0.01'}\n",
     "embed.experiments.gtex26_fe.settings.lr", ["'0.01' is a string; lr takes a number"]),
    ("embed:\n  experiments:\n    gtex26_fe:\n      settings: {mask_fraction: 0.9}\n",
     "embed.experiments.gtex26_fe.settings.mask_fraction", ["0.9 is out of range", "<= 0.5"]),
]


@pytest.mark.parametrize("text, field, words", FAMILY_CASES, ids=[c[1] for c in FAMILY_CASES])
def test_misspelled_or_mistyped_setting_stops_check_config(tmp_path, text, field, words):
    user, r = check_user_yaml(tmp_path, text)
    one_error_line(r, user, field, *words)


GRID_AND_BASELINE_CASES = [
    ("generate:\n  grid: {gaussian: {min_clas: [2, 3]}}\n", "generate.grid.gaussian.min_clas",
     ["unknown setting 'min_clas' of gaussian", "did you mean 'min_class'?"]),
    ("generate:\n  experiments:\n    kirc_rcc:\n      grid: {diffusion: {lrr: [1.0e-3]}}\n",
     "generate.experiments.kirc_rcc.grid.diffusion.lrr", ["did you mean 'lr'?"]),
    ("generate:\n  grid: {diffusion: {lr: [fast, 1.0e-3]}}\n", "generate.grid.diffusion.lr",
     ["'fast' is a string; lr takes a number"]),
    ("generate:\n  grid: {diffusion: {lr: [1.0e-3, 1.0e-3]}}\n", "generate.grid.diffusion.lr",
     ["more than once", "list each value once"]),
    ("generate:\n  grid: {difusion: {lr: [1.0e-3]}}\n", "generate.grid.difusion", ["did you mean 'diffusion'?"]),
    ("generate:\n  evaluation: {baseline: gausian}\n", "generate.evaluation.baseline",
     ["'gausian' is not a model of generate", "did you mean 'gaussian'?", "wgan_gp, cvae"]),
    ("generate:\n  evaluation: {baseline: ctgan}\n", "generate.evaluation.baseline",
     ["not among the models of experiment kirc_deg", "add ctgan to generate.experiments.kirc_deg.models"]),
]


@pytest.mark.parametrize("text, field, words", GRID_AND_BASELINE_CASES, ids=[c[1] for c in GRID_AND_BASELINE_CASES])
def test_bad_grid_or_baseline_stops_check_config(tmp_path, text, field, words):
    user, r = check_user_yaml(tmp_path, text)
    one_error_line(r, user, field, *words)


# -------------------------------------------------------------------------- trust: YAML, paths, labels
@pytest.mark.parametrize("text, field, lines", [
    ("seed: 1\nseed: 2\n", "seed", "line 1 and again at line 2"),
    ("generate:\n  settings:\n    wgan_gp: {epochs: 3}\n    wgan_gp: {epochs: 4}\n", "generate.settings.wgan_gp",
     "line 3 and again at line 4"),
    ("generate:\n  settings:\n    wgan_gp: {epochs: 3, epochs: 4}\n", "generate.settings.wgan_gp.epochs",
     "line 3, columns 15 and 26"),
])
def test_duplicate_yaml_keys_are_refused(tmp_path, text, field, lines):
    user, r = check_user_yaml(tmp_path, text)
    one_error_line(r, user, field, "set twice", lines, "remove one of the two")
    with pytest.raises(InputError, match="set twice"):
        C.check_config_files([str(REPO / "config/config.yaml"), str(user)])


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    user, r = check_user_yaml(tmp_path, "seed: 7\nrun:\n\tdatasets: [a]\n")
    one_error_line(r, user, "line 3, column 1", "not valid YAML", "'\\t'")


@pytest.mark.parametrize("value", ["resources", "src/x", "./workflow/out", "scripts", "."])
def test_results_dir_inside_the_repository_is_refused(tmp_path, value):
    user, r = check_user_yaml(tmp_path, f"results_dir: {value}\n")
    one_error_line(r, user, "results_dir", f"'{value}'", "Fix: write results outside")


def test_results_dir_resolved_through_an_absolute_path_and_elsewhere_allowed(tmp_path):
    user, r = check_user_yaml(tmp_path, f"results_dir: {REPO / 'resources' / 'out'}\n")
    one_error_line(r, user, "results_dir", "inside resources/")
    user, r = check_user_yaml(tmp_path, f"results_dir: {tmp_path / 'out'}\n")
    assert r.returncode == 0, r.stderr


def test_results_dir_through_a_symlink_is_resolved(workdir):
    """In another working directory (the tests' scratch one links resources/, src/, config/):
    the resolved path counts, so a link into the repository is refused."""
    os.symlink(REPO / "scripts", workdir / "elsewhere")
    for value, inside in (("resources/out", "resources/"), ("elsewhere/out", "scripts/")):
        user = workdir / "my.yaml"
        user.write_text(f"results_dir: {value}\n")
        r = cli("config/config.yaml", user, cwd=workdir)
        one_error_line(r, user, "results_dir", f"inside {inside}")


@pytest.mark.parametrize("text, field", [
    ("generate:\n  experiments:\n    kirc_rcc: {label: []}\n", "generate.experiments.kirc_rcc.label"),
    ("infer:\n  experiments:\n    pancan11_l1000: {label: []}\n", "infer.experiments.pancan11_l1000.label"),
    ("embed:\n  experiments:\n    gtex26_fe: {label: []}\n", "embed.experiments.gtex26_fe.label"),
    ("embed:\n  experiments:\n    pancan11_fe: {labels: {cohort: []}}\n",
     "embed.experiments.pancan11_fe.labels.cohort"),
    ("generate:\n  experiments:\n    kirc_rcc: {label: ''}\n", "generate.experiments.kirc_rcc.label"),
])
def test_empty_label_is_refused_for_every_model_stage(tmp_path, text, field):
    user, r = check_user_yaml(tmp_path, text)
    one_error_line(r, user, field, "names no class column", "label: condition")


@pytest.mark.parametrize("files", [
    ["config/config.yaml"],
    ["config/config.yaml", "config/full.yaml"],
    ["config/config.yaml", "config/own_data.yaml"],
    ["tests/config/tiny.yaml"],  # alone: a --replace-workflow-config run
])
def test_shipped_configs_pass(files):
    r = cli(*files)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "config OK" in r.stdout


def test_error_names_the_file_that_set_the_key_else_all_files(tmp_path):
    user, r = check_user_yaml(tmp_path, "generate:\n  settings:\n    wgan_gp: {epochz: 3}\n")
    one_error_line(r, user, "generate.settings.wgan_gp.epochz")
    # a required key that no file sets: every file is named
    user, r = check_user_yaml(tmp_path, "generate:\n  experiments:\n    mine: {dataset: kirc, label: condition}\n")
    one_error_line(r, f"config/config.yaml, {user}", "generate.experiments.mine.genes", "required")


def test_cli_without_files_is_a_usage_error():
    r = cli()
    assert r.returncode == 2 and "usage" in r.stderr


# ------------------------------------------------------------------------- the layer's functions
def _validated(*files):
    return C.validate_config(C.load_config([str(REPO / f) for f in files]), ", ".join(files), SCHEMA)


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_defaults_are_filled_as_snakemakes_validate_fills_them(in_repo):
    from snakemake.utils import update_config, validate

    for files in (["config/config.yaml"], ["config/config.yaml", "config/full.yaml"],
                  ["config/config.yaml", "config/own_data.yaml"], ["tests/config/tiny.yaml"]):
        theirs = yaml.safe_load((REPO / files[0]).read_text())
        over: dict = {}
        for f in files[1:]:
            update_config(over, yaml.safe_load((REPO / f).read_text()))
        update_config(theirs, over)
        validate(theirs, str(SCHEMA))
        assert _validated(*files) == theirs, files


def test_load_config_merges_as_snakemake_does(tmp_path):
    a, b, c = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    a.write_text("x: {p: 1, q: [1, 2], r: {s: 1}}\ny: 1\nz: {k: 1}\n")
    b.write_text("x: {q: [3], r: {t: 2}}\nz: {}\n")
    c.write_text("y: null\nx: {p: 5}\n")
    assert C.load_config([str(a), str(b), str(c)]) == {"x": {"p": 5, "q": [3], "r": {"s": 1, "t": 2}},
                                                      "y": None, "z": {"k": 1}}
    assert C.merge_order(["/abs/my.yaml", "config/config.yaml"]) == ["config/config.yaml", "/abs/my.yaml"]


def test_effective_split_and_the_field_that_set_it(in_repo):
    cfg = _validated("config/config.yaml")
    exp = cfg["embed"]["experiments"]["gtex26_fe"]
    assert C.effective_split(cfg, "embed", exp) == {"folds": 5, "val_fraction": 0.15}
    assert C.split_field(cfg, "embed", "gtex26_fe", exp) == "split.folds"
    cfg["datasets"]["gtex26"]["split"] = {"folds": 3}
    assert C.effective_split(cfg, "embed", exp)["folds"] == 3
    assert C.split_field(cfg, "embed", "gtex26_fe", exp) == "datasets.gtex26.split.folds"
    exp["split"] = {"val_fraction": 0.2}
    assert C.effective_split(cfg, "embed", exp) == {"folds": 3, "val_fraction": 0.2}
    assert C.split_field(cfg, "embed", "gtex26_fe", exp, "val_fraction") == \
        "embed.experiments.gtex26_fe.split.val_fraction"


def test_embed_run_folds_honour_the_datasets_split(in_repo):
    """Before, embed ignored datasets.<ds>.split.folds (generate and infer honoured it)."""
    cfg = _validated("config/config.yaml")
    cfg["embed"]["run_folds"] = 3
    C.check_datasets(copy.deepcopy(cfg), "my.yaml")
    cfg["datasets"]["gtex26"]["split"] = {"folds": 2}
    with pytest.raises(InputError, match=r"field 'embed.run_folds'.*datasets.gtex26.split.folds"):
        C.check_datasets(cfg, "my.yaml")


def test_model_settings_are_complete_for_experiment_overrides(in_repo):
    cfg = _validated("config/config.yaml")
    exp = cfg["generate"]["experiments"]["pancan11_l1000"]
    wgan = C.model_settings(cfg, "generate", exp, "wgan_gp")
    assert set(wgan) == set(S.names("wgan_gp")) and wgan["epochs"] == 40 and wgan["batch_size"] == 64
    # a block the config does not have: the dataclass defaults
    del cfg["generate"]["settings"]["gaussian"]
    assert C.model_settings(cfg, "generate", exp, "gaussian") == {"min_class": 3}
    # library keywords: only those given (the library's defaults apply to the rest)
    assert C.model_settings(cfg, "generate", exp, "ctgan") == {"epochs": 100}
    fe = C.model_settings(cfg, "embed", cfg["embed"]["experiments"]["gtex26_fe"], "factorized")
    assert set(fe) == set(S.names("factorized")) and fe["epochs"] == 60 and fe["batch_size"] == 1024
    learned = C.learned_settings(cfg)
    assert set(learned) == set(S.names("learned")) and learned["group_lasso"] == [0.1, 0.3, 1]


def test_model_grid_points(in_repo):
    cfg = _validated("config/config.yaml")
    exp = cfg["generate"]["experiments"]["kirc_rcc"]
    assert C.model_grid(cfg, exp, "diffusion") == [{"lr": 1.0e-3}, {"lr": 3.0e-3}]
    assert C.model_grid(cfg, exp, "wgan_gp") == [{}]
    # the experiment's grid updates the global one key by key; every combination, keys sorted
    cfg["generate"]["grid"] = {"diffusion": {"lr": [1.0], "batch_size": [8, 16]}}
    assert C.model_grid(cfg, exp, "diffusion") == [
        {"batch_size": b, "lr": lr} for b in (8, 16) for lr in (1.0e-3, 3.0e-3)]
    assert C.model_grid(cfg, cfg["generate"]["experiments"]["kirc_deg"], "diffusion") == [
        {"batch_size": 8, "lr": 1.0}, {"batch_size": 16, "lr": 1.0}]


def test_checks_read_the_validated_config_not_literal_defaults():
    """No `.get(key, <literal>)` left in the checks: defaults come from the schema (validated config)."""
    tree = ast.parse((SRC / "config.py").read_text())
    literal_defaults = [
        f"line {n.lineno}: {ast.unparse(n)}" for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
        and len(n.args) == 2 and isinstance(n.args[1], ast.Constant) and n.args[1].value not in (None, "")
        and ast.unparse(n.func.value) != "err.schema"  # jsonschema's own schema, not the config
    ]
    assert not literal_defaults, literal_defaults


# --------------------------------------------------------------- settings vs schema, code, libraries
def _resolve(node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = {**SCHEMA_DATA["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_block(model: str) -> dict:
    props = SCHEMA_DATA["properties"]
    if model == "factorized":
        return _resolve(props["embed"]["properties"]["settings"])
    if model == "learned":
        return _resolve(props["infer"]["properties"]["learned"])
    stage = "generate" if model in trainable("generate") else "infer"
    return _resolve(props[stage]["properties"]["settings"]["properties"][model])


JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", type(None): "null"}


def _schema_types(prop: dict) -> set:
    """The JSON types (or enum) a schema property allows, flattened over anyOf."""
    if "anyOf" in prop:
        return set().union(*(_schema_types(p) for p in prop["anyOf"]))
    if "enum" in prop:
        return {("enum", tuple(prop["enum"]))}
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    return {("array", prop["items"]["type"]) if t == "array" else t for t in types}


def _py_types(tp) -> set:
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        return set().union(*(_py_types(a) for a in typing.get_args(tp)))
    if typing.get_origin(tp) is typing.Literal:
        return {("enum", typing.get_args(tp))}
    if typing.get_origin(tp) is tuple:
        return {("array", JSON_TYPES[typing.get_args(tp)[0]])}
    return {JSON_TYPES[tp]}


BOUND_KEYS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum",
              "multiple_of": "multipleOf"}


def _schema_bounds(prop: dict) -> dict:
    """Bounds of a property in the settings' terms, items' bounds folded in (anyOf: the union)."""
    out = {}
    for p in prop.get("anyOf", [prop]):
        for ours, theirs in BOUND_KEYS.items():
            for where in (p, p.get("items", {})):
                if theirs in where:
                    out[ours] = where[theirs]
        out.update({k: p[v] for k, v in (("min_items", "minItems"), ("max_items", "maxItems")) if v in p})
    return out


SETTINGS_MODELS = sorted(S.SETTINGS)


def test_every_trainable_model_has_settings():
    assert set(S.SETTINGS) == set(trainable("generate")) | set(trainable("infer")) | {"factorized", "learned"}
    assert set(models("embed", "torch")) == {"factorized"}


@pytest.mark.parametrize("model", SETTINGS_MODELS)
def test_schema_settings_block_equals_the_dataclass(model):
    block = schema_block(model)
    props = block.get("properties", {})
    assert block.get("additionalProperties") is False, model
    assert list(props) == S.names(model), model  # same names, same order
    assert sorted(block.get("required", [])) == sorted(S.required(model))
    lib = S.library(model)
    for name in S.names(model):
        prop = props[name]
        if lib:  # the library's defaults apply: none in the schema (validate() would pass them all)
            assert "default" not in prop, (model, name)
        elif name in S.defaults(model):
            assert prop.get("default", "(none)") == S.defaults(model)[name], (model, name)
        else:
            assert "default" not in prop, (model, name)
        assert _schema_types(prop) == _py_types(S.field_type(model, name)), (model, name)
        assert _schema_bounds(prop) == S.bounds(model, name), (model, name)


@pytest.mark.parametrize("model, cls", [("ctgan", "CTGAN"), ("tvae", "TVAE")])
def test_ctgan_keywords_equal_the_constructors(model, cls):
    import ctgan

    params = {n: p for n, p in inspect.signature(getattr(ctgan, cls).__init__).parameters.items()
              if n not in ("self", "enable_gpu", "cuda")}
    assert S.names(model) == list(params)
    assert S.library(model) == f"ctgan.{cls}"
    for name, p in params.items():
        ours = S.defaults(model)[name]
        theirs = list(p.default) if isinstance(p.default, tuple) else p.default
        assert ours == theirs, (model, name)
        assert S._matches(S.field_type(model, name), theirs), (model, name)  # the library's default has our type


def _reads(nodes) -> set[str]:
    """Keys read as cfg["k"], cfg.get("k"), self.cfg["k"], self.cfg.get("k") under these AST nodes."""
    def is_cfg(n):  # `cfg`, `self.cfg`, or `(cfg or {})` (a peer built without settings)
        if isinstance(n, ast.BoolOp) and isinstance(n.op, ast.Or):
            n = n.values[0]
        return ast.unparse(n) in ("cfg", "self.cfg")

    out = set()
    for root in nodes:
        for n in ast.walk(root):
            if isinstance(n, ast.Subscript) and is_cfg(n.value) and isinstance(n.slice, ast.Constant):
                out.add(n.slice.value)
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
                  and is_cfg(n.func.value) and n.args and isinstance(n.args[0], ast.Constant)):
                out.add(n.args[0].value)
    return out


def _scopes(module: str, names=None) -> list:
    tree = ast.parse((SRC / "models" / module).read_text())
    if names is None:
        return [tree]
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names]
    assert {n.name for n in found} == set(names), (module, names)
    return found


DGEX_SCOPES = ["_optimiser", "scheduled_lr", "DGEXRegressor"]
# The model code the settings feed (models/), and the keys the stage code reads besides (the loop's
# epochs, losses, ridge bases, landmark choice, embedding scale and masks).
MODEL_READS = {
    "wgan_gp": (_scopes("wgan_gp.py"), {"epochs"}),
    "cvae": (_scopes("cvae.py"), {"epochs"}),
    "diffusion": (_scopes("diffusion.py"), {"epochs"}),
    "gaussian": ([], {"min_class"}),
    "ridge": ([], {"alphas"}),
    "knn": ([], {"ks"}),
    "dgex_mlp": (_scopes("regression.py", DGEX_SCOPES), {"epochs", "loss", "base", "alphas"}),
    "dgex_residual": (_scopes("regression.py", DGEX_SCOPES), {"epochs", "loss", "base", "alphas"}),
    "learned": (_scopes("regression.py", DGEX_SCOPES + ["GroupLassoMLP"]),
                {"epochs", "loss", "alphas", "group_lasso", "k"}),
    "factorized": (_scopes("embedding.py", ["FactorizedEmbedding"]),
                   {"epochs", "scale", "mask_fraction", "batch_size", "new_sample_epochs", "new_sample_lr"}),
}
STAGE_SET = {"sample_dim"}  # set by the stage from the experiment's sizes, not a user setting


@pytest.mark.parametrize("model", sorted(MODEL_READS))
def test_dataclass_fields_are_what_the_model_code_reads(model):
    scopes, stage_keys = MODEL_READS[model]
    assert (_reads(scopes) | stage_keys) - STAGE_SET == set(S.names(model))


def test_stage_keys_are_read_somewhere_in_the_library():
    everywhere = _reads([ast.parse(p.read_text()) for p in SRC.rglob("*.py") if p.name != "settings.py"])
    for model, (_, keys) in MODEL_READS.items():
        assert keys <= everywhere, (model, keys - everywhere)


def test_settings_and_config_modules_are_import_light():
    code = ("import sys; import gexflow.models.settings, gexflow.config; "
            "print(','.join(m for m in ('torch', 'pandas', 'numpy', 'sklearn', 'snakemake', 'ctgan') "
            "if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == ""
    tree = ast.parse((SRC / "models" / "settings.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"gexflow", "__future__"}, imported


# ------------------------------------------------------------------- check_settings, unit by unit
@pytest.mark.parametrize("model, values, problem", [
    ("wgan_gp", {"epochz": 3}, "unknown setting 'epochz' of wgan_gp"),
    ("wgan_gp", {"epochs": "3"}, "'3' is a string; epochs takes an integer"),
    ("wgan_gp", {"epochs": False}, "false is a boolean; epochs takes an integer"),
    ("wgan_gp", {"betas": [0.5]}, "[0.5] has 1 value; betas takes exactly 2 values"),
    ("wgan_gp", {"betas": [0.5, 1.0]}, "1.0 in betas is out of range"),
    ("wgan_gp", {"optimiser": "sgd"}, "'sgd' is not one of adam, rmsprop"),
    ("cvae", {"hidden": []}, "[] has 0 values; hidden takes at least 1 value"),
    ("ctgan", {"batch_size": 51}, "a multiple of 2"),
    ("shuffled", {"seed": 1}, "unknown setting 'seed' of shuffled"),
    ("learned", {"k": 0}, "k 0 is out of range; k takes an integer >= 1 (or null)"),
    ("gaussian", 3, "3 is an integer, not a mapping of settings"),
])
def test_check_settings_problems(model, values, problem):
    with pytest.raises(InputError) as e:
        S.check_settings(model, values, f"x.{model}", "my.yaml")
    assert problem in e.value.problem, e.value.problem
    assert "\n" not in str(e.value) and str(e.value).startswith("my.yaml: field 'x.")


@pytest.mark.parametrize("model, values", [
    ("learned", {"k": None, "group_lasso": 0.5}), ("learned", {"group_lasso": [0, 1]}),
    ("dgex_mlp", {"hidden": []}), ("diffusion", {"lr": 1, "guidance": [0, 1.5]}), ("shuffled", {}),
    ("gaussian", None),
])
def test_check_settings_accepts_valid_values(model, values):
    S.check_settings(model, values, "x", "my.yaml")


def test_tiny_config_settings_validate_through_the_layer(in_repo):
    cfg = C.validate_config(yaml.safe_load(TINY_CONFIG.read_text()), "tiny.yaml", SCHEMA)
    assert dataclasses.is_dataclass(S.SETTINGS["wgan_gp"])
    # every effective settings dict builds its dataclass (the types and names agree)
    for stage in ("generate", "infer"):
        for name in cfg[stage]["run"]:
            exp = cfg[stage]["experiments"][name]
            for model in exp.get("models", cfg[stage]["models"]):
                S.SETTINGS[model](**C.model_settings(cfg, stage, exp, model))
    S.SETTINGS["learned"](**C.learned_settings(cfg))
    S.SETTINGS["factorized"](**C.model_settings(cfg, "embed", cfg["embed"]["experiments"]["tiny_fe"], "factorized"))


# ------------------------------------------------------------- schema and cross-field checks, direct
def _config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_default_config_is_valid(in_repo):
    cfg = _config()
    C.check_config(cfg, SCHEMA, "config/config.yaml")
    C.check_datasets(cfg, "config/config.yaml")


@pytest.mark.parametrize("edit, field, words", [
    (lambda c: c.pop("filter"), "filter", "required"),
    (lambda c: c["filter"].pop("min_fraction"), "filter.min_fraction", "required"),
    (lambda c: c["filter"].__setitem__("min_fraction", 2), "filter.min_fraction", "maximum"),
    (lambda c: c["filter"].__setitem__("min_expression", "high"), "filter.min_expression", "not of type"),
    (lambda c: c["datasets"]["kirc"].__setitem__("scale", "log10"), "datasets.kirc.scale", "log2p1"),
    # an unknown key: the field names the key itself, the fix the closest valid key
    (lambda c: c["datasets"]["kirc"].__setitem__("sclae", "linear"), "datasets.kirc.sclae", "did you mean 'scale'"),
    (lambda c: c.__setitem__("seed", -1), "seed", "minimum"),
], ids=["section_missing", "key_missing", "above_maximum", "wrong_type", "not_in_enum", "unknown_key",
        "below_minimum"])
def test_bad_config_names_the_field(edit, field, words):
    cfg = _config()
    edit(cfg)
    with pytest.raises(InputError) as e:
        C.check_config(cfg, SCHEMA, "config/config.yaml")
    msg = str(e.value)
    assert msg.startswith("config/config.yaml: field '" + field + "'"), msg
    assert words in msg and "Fix:" in msg


def test_unknown_run_dataset_and_missing_file(in_repo):
    cfg = _config()
    cfg["run"]["datasets"] = ["kirk"]
    with pytest.raises(InputError, match="run.datasets.*kirc"):
        C.check_datasets(cfg)
    cfg = _config()
    cfg["datasets"]["kirc"]["matrix"] = "resources/tcga/missing.tsv.gz"
    with pytest.raises(InputError, match="datasets.kirc.matrix.*does not exist"):
        C.check_datasets(cfg)


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ".hidden", "x y", "-rf"])
def test_hostile_dataset_names_are_refused_by_the_schema(name):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["datasets"][name] = cfg["datasets"]["kirc_subset"]
    cfg["run"]["datasets"] = [name]
    with pytest.raises(InputError) as e:
        C.check_config(cfg, SCHEMA, "my.yaml")
    assert "field 'datasets'" in str(e.value) and "my.yaml" in str(e.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "my.yaml"
    bad.write_text("seed: 7\nrun:\n  datasets: [kirc_subset\nfilter:\n  min_fraction: 0.2\n")
    with pytest.raises(InputError) as e:
        C.load_yaml(bad)
    assert "my.yaml" in str(e.value) and "line " in str(e.value) and "Fix:" in str(e.value)
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("seed: 7\nrun:\n\tdatasets: [a]\n")
    with pytest.raises(InputError, match=r"tabs.yaml: field 'line 3, column 1'"):
        C.load_yaml(tabs)


def test_unknown_model_and_run_folds_over_folds(in_repo):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["generate"]["experiments"]["tiny_rcc"]["settings"] = {"gan9000": {}}
    with pytest.raises(InputError, match="field 'generate.experiments.tiny_rcc.settings.gan9000'"):
        C.check_datasets(cfg, "my.yaml")
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["generate"]["run_folds"] = 5
    with pytest.raises(InputError, match="field 'generate.run_folds'.*split.folds"):
        C.check_datasets(cfg, "my.yaml")


def test_embedding_size_zero_is_a_clear_error():
    cfg = _config()
    cfg["embed"]["experiments"]["pancan11_fe"]["sizes"] = [0, 16]
    with pytest.raises(InputError) as e:
        C.check_config(cfg, SCHEMA, "my.yaml")
    msg = str(e.value)
    assert "my.yaml" in msg and "embed.experiments.pancan11_fe.sizes" in msg and ">= 1" in msg
    assert "\n" not in msg


def test_missing_embed_label_column_or_gene_set_is_a_clear_error(in_repo):
    cfg = _validated("config/config.yaml")
    bad = copy.deepcopy(cfg)
    bad["embed"]["experiments"]["pancan11_fe"]["labels"]["cohort"] = "tumour_site"
    with pytest.raises(InputError) as e:
        C.check_datasets(bad, "my.yaml")
    msg = str(e.value)
    assert "embed.experiments.pancan11_fe.labels.cohort" in msg and "tumour_site" in msg and "cohort" in msg
    bad = copy.deepcopy(cfg)
    bad["embed"]["experiments"]["gtex26_fe"]["genes"] = "no_such_set"
    with pytest.raises(InputError, match="embed.experiments.gtex26_fe.genes"):
        C.check_datasets(bad, "my.yaml")
    C.check_datasets(cfg, "my.yaml")  # the default passes


def test_bad_infer_landmark_set_names_field_and_fix(in_repo):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["infer"]["run"] = ["x"]
    cfg["infer"]["experiments"] = {"x": {"dataset": "kirc_subset", "landmarks": "no_such_set", "label": "condition"}}
    with pytest.raises(InputError, match=r"infer.experiments.x.landmarks.*not a set under select.sets.*Fix"):
        C.check_datasets(cfg, "my.yaml")


def _reversed_keys(node):
    if isinstance(node, dict):
        return {k: _reversed_keys(node[k]) for k in reversed(list(node))}
    return [_reversed_keys(v) for v in node] if isinstance(node, list) else node


def test_key_order_in_the_yaml_changes_no_job_params(in_repo):
    """Snakemake compares a job's params as text: the same config with its keys in another order
    must give every job the same params (or every job would rerun)."""
    from gexflow.paths import Paths

    raw = yaml.safe_load(TINY_CONFIG.read_text())
    a = C.validate_config(copy.deepcopy(raw), "tiny.yaml")
    b = C.validate_config(_reversed_keys(raw), "tiny.yaml")
    assert list(a) == list(b) and repr(a) == repr(b)
    pa, pb = Paths(a, "tiny.yaml"), Paths(b, "tiny.yaml")
    assert repr(pa.filter_params("kirc_subset")) == repr(pb.filter_params("kirc_subset"))
    assert repr(pa.infer.predict_params("kirp_slice")) == repr(pb.infer.predict_params("kirp_slice"))
    assert repr(pa.generate.refit_params("tiny_rcc")) == repr(pb.generate.refit_params("tiny_rcc"))


def _scoped(files):
    cfg = C.load_config(files)
    notes = C.scope_user_config(cfg, files)
    return C.validate_config(cfg, ", ".join(files)), notes


def test_a_cohort_config_runs_only_what_it_names_in_its_own_folder(in_repo):
    default, notes = _scoped(["config/config.yaml"])
    assert notes == [] and default["results_dir"] == "results"
    cfg, notes = _scoped(["config/config.yaml", "config/own_data.yaml"])
    assert cfg["results_dir"] == "results-own_data"
    assert cfg["deg"]["datasets"] == cfg["select"]["datasets"] == ["my_cohort"]
    for stage in ("generate", "infer", "embed"):
        assert all(cfg[stage]["experiments"][e]["dataset"] == "my_cohort" for e in cfg[stage]["run"]), stage
    # the default's own gene sets no longer reach the user's dataset; the user's own do
    own = yaml.safe_load((REPO / "config/own_data.yaml").read_text())["select"]["sets"]
    for name, spec in cfg["select"]["sets"].items():
        if name not in own:
            assert "my_cohort" not in spec.get("datasets", cfg["select"]["datasets"]), name
    assert any("select.sets.l1000" in n for n in notes) and any("results_dir" in n for n in notes)


def test_a_settings_overlay_keeps_the_default_folder_and_jobs(in_repo, tmp_path):
    overlay = tmp_path / "more.yaml"
    overlay.write_text("generate:\n  release:\n    n: 2000\n")
    cfg, notes = _scoped(["config/config.yaml", str(overlay)])
    default, _ = _scoped(["config/config.yaml"])
    assert notes == [] and cfg["results_dir"] == "results"
    assert cfg["generate"]["run"] == default["generate"]["run"] and cfg["select"] == default["select"]


def test_results_dir_set_anywhere_is_kept(in_repo, tmp_path):
    own = yaml.safe_load((REPO / "config/own_data.yaml").read_text())
    own["results_dir"] = "out/cohort1"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(own))
    cfg, _ = _scoped(["config/config.yaml", str(path)])
    assert cfg["results_dir"] == "out/cohort1"


def test_cli_prints_the_results_dir_for_the_makefile(in_repo, capsys):
    assert C.main(["--results-dir", "config/config.yaml", "config/own_data.yaml"]) == 0
    assert capsys.readouterr().out.strip() == "results-own_data"


@pytest.mark.parametrize("pathway, words", [
    ("hsa5211", ["hsa05211 (Renal cell carcinoma)"]),  # by number
    ("hsa05221x", ["hsa05221"]),  # by spelling
    ("Renal cell carcinoma", ["hsa05211"]),  # by name
    ("hsa99999", ["use an hsa id"]),
])
def test_unknown_kegg_pathway_stops_check_config_with_close_matches(in_repo, pathway, words):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["select"]["sets"]["kegg_rcc"]["pathways"] = [pathway]
    with pytest.raises(InputError) as e:
        C.validate_config(cfg, "my.yaml")
    assert e.value.file == "my.yaml" and e.value.field == "select.sets.kegg_rcc.pathways"
    for w in words:
        assert w in str(e.value), str(e.value)


def test_unknown_gmt_set_name_stops_check_config(in_repo, tmp_path):
    gmt = tmp_path / "mine.gmt"
    gmt.write_text("MY_PATHWAY\tdesc\tVHL\tEPAS1\nOTHER\tdesc\tKRT7\tXIST\n")
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["select"]["sets"]["mine"] = {"method": "gmt", "file": str(gmt), "names": ["MY_PATHWAYS"]}
    with pytest.raises(InputError) as e:
        C.validate_config(copy.deepcopy(cfg), "my.yaml")
    assert e.value.field == "select.sets.mine.names" and "MY_PATHWAY" in str(e.value)
    cfg["select"]["sets"]["mine"]["names"] = ["MY_PATHWAY"]
    C.validate_config(cfg, "my.yaml")


def test_a_generator_gene_set_of_one_gene_stops_check_config(in_repo):
    import csv

    with open(REPO / "resources/genesets/kegg_hsa_pathways_gagedata2017.tsv") as fh:
        sizes = {}
        for row in csv.DictReader(fh, delimiter="\t"):
            sizes[row["pathway_id"]] = sizes.get(row["pathway_id"], 0) + 1
    smallest = min(sizes, key=sizes.get)
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["select"]["sets"]["kegg_rcc"]["pathways"] = [smallest]
    if sizes[smallest] >= 2:  # the shipped table has no one-gene pathway: the check must pass
        C.validate_config(cfg, "my.yaml")
        return
    with pytest.raises(InputError) as e:
        C.validate_config(cfg, "my.yaml")
    assert e.value.field == "select.sets.kegg_rcc.pathways" and "at least 2 genes" in str(e.value)


def test_a_class_too_small_for_the_validation_carve_stops_check_config(in_repo, tmp_path):
    """5 v 5 patients with 5 folds: every test fold leaves 4 of a class; a validation carve of
    0.2 cuts them into 4 parts of one patient: fine; 0.1 needs 8 parts: refused before any job."""
    import pandas as pd

    sheet = pd.read_csv(REPO / "tests/data/kirc_subset_samples.tsv", sep="\t", dtype=str)
    keep = sheet.drop_duplicates("patient_barcode").groupby("condition").head(5)
    small = tmp_path / "small_samples.tsv"
    keep.to_csv(small, sep="\t", index=False)
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["datasets"]["kirc_subset"]["samples"] = str(small)
    cfg["split"] = {"folds": 5, "val_fraction": 0.2}
    C.validate_config(copy.deepcopy(cfg), "my.yaml")
    cfg["split"]["val_fraction"] = 0.1
    with pytest.raises(InputError) as e:
        C.validate_config(copy.deepcopy(cfg), "my.yaml")
    msg = str(e.value)
    assert e.value.field == "split.folds" and "validation part" in msg and "split.val_fraction" in msg, msg
