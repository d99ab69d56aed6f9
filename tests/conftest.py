"""Shared fixtures and helpers of tests/unit (the library, module by module) and tests/workflow
(everything that runs snakemake):

- paths of the repository's test data, a scratch working directory, snakemake as a subprocess,
  the tiny config with edits, the dry run's job table and the job counts a config implies;
- stage jobs as the rules run them (`make_job`, `run_as_rule`: `gexflow.runner.run_job` with the
  exit code and the log's error lines), and the real KIRC subset staged, filtered and split once
  per session through the stage entry points (so every intermediate has its integrity record);
- the SIGKILL harness: a training script killed after an epoch, rerun, and both results returned.
"""

import contextlib
import copy
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from math import prod
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
DATA = TESTS / "data"
KIRC_SUBSET = DATA / "kirc_subset_log2rsem.tsv.gz"
KIRC_SAMPLES = DATA / "kirc_subset_samples.tsv"
TINY_CONFIG = TESTS / "config" / "tiny.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
ENTREZ_MAP = REPO / "resources" / "genesets" / "entrez_symbol_map_orghs_3.16.tsv.gz"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a unit test too slow for `make test-fast` (deselected there)")


def pytest_collection_modifyitems(config, items):
    """Everything under tests/workflow runs snakemake (marker `workflow`). Run the SLURM test last:
    it leaves the slurm client installed, which slows snakemake start-up whenever no controller
    answers (see tests/slurm/cluster.sh)."""
    for item in items:
        if (TESTS / "workflow") in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.workflow)
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)


@pytest.fixture(autouse=True)
def _restore_logging():
    """run_job configures the root logger (basicConfig(force=True)); undo it after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers and not type(h).__module__.startswith("_pytest"):
            root.addHandler(h)
    root.setLevel(level)


# ------------------------------------------------------------------------------------- snakemake
def make_workdir(path) -> Path:
    """A scratch working directory that sees the repo's shipped files through symlinks."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in ("resources", "src", "tests", "config"):
        os.symlink(REPO / name, path / name)
    return path


@pytest.fixture
def workdir(tmp_path):
    return make_workdir(tmp_path)


def snakemake(workdir, *args, timeout=600, env=None):
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def have_snakemake():
    return shutil.which(SNAKEMAKE) is not None


def ok(result):
    """The output of a snakemake run that must succeed."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


_DELETE = object()
DELETE = _DELETE


def tiny_config(**edits) -> dict:
    """The tiny config as a dict, with nested edits given as dotted keys ('filter.min_expression')."""
    import yaml

    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    for dotted, value in edits.items():
        node = cfg
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return cfg


def copy_tiny_config(workdir, name="config.yaml", **edits):
    """The tiny config written to `workdir/name`, optionally with dotted-key edits."""
    import yaml

    path = Path(workdir) / name
    path.write_text(yaml.safe_dump(tiny_config(**edits)))
    return path


# Edits for tests about the data stages or the DAG itself: no model stage runs (each model stage
# has its own end-to-end test; running all of them in every workflow test would triple CI time).
MODEL_STAGES_OFF = {"generate.run": [], "infer.run": [], "embed.run": []}


def assert_same_run_records(dir_a, dir_b, records_a: dict, records_b: dict):
    """Two runs of one config: the same run records, equal but for timings (and resume marks)."""
    from gexflow.manifest import run_record_content

    assert sorted(records_a) == sorted(records_b) and records_a
    for path in records_a:
        assert run_record_content(Path(dir_a) / path) == run_record_content(Path(dir_b) / path), path


def planned_jobs(output: str) -> dict:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    import re

    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, re.S)
    if not m:
        return {}
    return {name: int(n) for name, n in (line.split() for line in m.group(1).strip().splitlines())}


@contextlib.contextmanager
def serve_directory(root):
    """Serve `root` over HTTP on 127.0.0.1 (a free port) for the duration of the block."""
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# ----------------------------------------------------------------- the job counts a config implies
def validated(*files, merged: dict | None = None) -> dict:
    """A config as the workflow sees it: the files (relative to the repository root) merged as
    Snakemake merges them (then `merged` over them), scoped as a user's config is
    (config.scope_user_config), schema defaults filled, every check passed (run from the
    repository root, where the configs' relative paths point)."""
    from gexflow import config as C

    with contextlib.chdir(REPO):
        cfg = C.load_config([str(f) for f in files])
        if merged:
            cfg = C.merge_config(cfg, copy.deepcopy(merged))
        C.scope_user_config(cfg, [str(f) for f in files])  # as common.smk: a cohort config runs only its own
        return C.validate_config(cfg, ", ".join(map(str, files)) or "config", SCHEMA)


def _running(cfg: dict, stage: str) -> list[tuple[str, dict]]:
    section = cfg.get(stage) or {"run": []}
    return [(name, section["experiments"][name]) for name in section.get("run", [])]


def _split_key(cfg: dict, exp: dict) -> tuple:
    """What makes two experiments share a split: dataset, label, effective folds and validation fraction."""
    ds = exp["dataset"]
    merged = {**cfg["split"], **(cfg["datasets"][ds].get("split") or {}), **(exp.get("split") or {})}
    label = (exp["label"],) if isinstance(exp["label"], str) else tuple(exp["label"])
    return ds, label, merged["folds"], merged["val_fraction"]


def gene_sets(cfg: dict) -> set[tuple[str, str]]:
    """(dataset, set) of every gene list a run writes: the sets of select.datasets (each set's own
    `datasets` restricts it), those the running experiments ask for, and the parts of unions."""
    sets = cfg["select"]["sets"]
    pairs: set = set()

    def need(ds, name):
        pairs.add((ds, name))
        if sets[name]["method"] in ("union", "intersection"):
            for part in sets[name]["of"]:
                need(ds, part)

    for ds in cfg["select"]["datasets"]:
        for name, spec in sets.items():
            if ds in spec.get("datasets", [ds]):
                need(ds, name)
    for stage, key in (("generate", "genes"), ("infer", "landmarks"), ("embed", "genes")):
        for _, exp in _running(cfg, stage):
            if exp[key] != "all":
                need(exp["dataset"], exp[key])
    return pairs


def uses_degs(cfg: dict, name: str) -> bool:
    spec = cfg["select"]["sets"][name]
    return spec["method"] == "deg" or any(uses_degs(cfg, p) for p in spec.get("of", []))


def grid_points(cfg: dict, exp: dict, model: str) -> int:
    """Points of a model's validation grid: the stage's grid updated key by key by the experiment's."""
    grid = dict((cfg["generate"].get("grid") or {}).get(model) or {})
    grid.update((exp.get("grid") or {}).get(model) or {})
    return prod(len(v) for v in grid.values())


def generate_jobs(cfg: dict, name: str, models=None) -> Counter:
    """The jobs of one generator experiment (`models`: only those models' training, evaluation and
    the comparison)."""
    g = cfg["generate"]
    exp = g["experiments"][name]
    all_models = exp.get("models", g["models"])
    seeds, folds = len(exp.get("seeds", g.get("seeds", [0]))), g["run_folds"]
    jobs = Counter()
    for m in all_models if models is None else models:
        points = grid_points(cfg, exp, m)
        if points > 1:
            jobs["train_grid_point"] += points * seeds * folds
            jobs["select_generator"] += seeds * folds
        else:
            jobs["train_generator"] += seeds * folds
        jobs["evaluate_generator"] += 1
    if models is None:
        jobs["evaluate_generator"] += 1  # the real ceiling
    jobs["compare_generators"] += 1
    return jobs


def infer_jobs(cfg: dict, name: str) -> Counter:
    s = cfg["infer"]
    exp = s["experiments"][name]
    lmsets = 2 if exp.get("learned_landmarks") else 1
    n_models, folds = len(exp.get("models", s["models"])), s["run_folds"]
    jobs = Counter({"train_inference_model": lmsets * n_models * folds, "evaluate_inference": lmsets * n_models,
                    "compare_inference": 1})
    if exp.get("learned_landmarks"):
        jobs["learn_landmarks"] = folds
    jobs["predict_targets"] = sum(p["experiment"] == name for p in s.get("predict", {}).values())
    return jobs


def embed_jobs(cfg: dict, name: str) -> Counter:
    s = cfg["embed"]
    exp = s["experiments"][name]
    sizes = len(exp["sizes"])
    return Counter({"train_embedding": sizes * s["run_folds"], "evaluate_embedding": sizes, "report_embedding": 1,
                    "impute_missing": int(bool(exp.get("impute_missing")))})


STAGE_JOBS = {"generate": generate_jobs, "infer": infer_jobs, "embed": embed_jobs}
# The release jobs of a running experiment with a `release` (false or absent: none).
RELEASE_JOBS = {"generate": {"refit_generator": 1, "sample_release": 1}, "infer": {"release_inference_model": 1},
                "embed": {"release_embedding": 1}}


def release_jobs(cfg: dict, stage: str, name: str) -> Counter:
    exp = cfg[stage]["experiments"][name]
    jobs = Counter(RELEASE_JOBS[stage] if exp.get("release") not in (None, False) else {})
    if stage == "embed" and jobs:
        jobs["embed_samples"] = sum(spec["experiment"] == name for spec in (cfg["embed"].get("embed_new") or {})
                                    .values())
    return jobs


def expected_jobs(cfg: dict, datasets=None) -> dict:
    """{rule: job count} a run of `cfg` (a validated config) plans from scratch, by plain
    arithmetic over the config: staging and filter per dataset used, DEG calls, gene lists, one
    split per (dataset, label, folds, validation fraction), and per running experiment its models
    x generator seeds x run folds (x grid points), landmark sets, sizes, and its release jobs. With
    `datasets`: only the jobs that belong to those datasets (no references, no manifest)."""
    jobs = Counter()
    used = dict.fromkeys(cfg["run"]["datasets"])
    for stage in STAGE_JOBS:
        for _, exp in _running(cfg, stage):
            used[exp["dataset"]] = None
    pairs = gene_sets(cfg)
    deg_datasets = set(cfg["deg"]["datasets"]) | {ds for ds, n in pairs if cfg["select"]["sets"][n]["method"] == "deg"}
    keep = set(used) | deg_datasets if datasets is None else set(datasets)
    for ds in dict.fromkeys([*used, *sorted(deg_datasets)]):
        if ds not in keep:
            continue
        d = cfg["datasets"][ds]
        if d["source"] == "embedded":
            jobs["stage_embedded_bulk" if d["kind"] == "bulk" else "stage_embedded_single_cell"] += 1
        else:
            jobs["download_dataset"] += 1
        jobs["filter_normalise"] += 1
    jobs["call_degs"] += sum(ds in keep for ds in deg_datasets)
    jobs["select_genes"] += sum(ds in keep for ds, _ in pairs)
    splits = {_split_key(cfg, exp) for stage in STAGE_JOBS for _, exp in _running(cfg, stage)}
    jobs["split_samples"] += sum(key[0] in keep for key in splits)
    for stage, count in STAGE_JOBS.items():
        for name, exp in _running(cfg, stage):
            if exp["dataset"] in keep:
                jobs.update(count(cfg, name))
                jobs.update(release_jobs(cfg, stage, name))
    if datasets is None:
        if cfg["references"]["source"] == "embedded":
            jobs["stage_embedded_references"] += 1
        else:
            jobs.update({"download_kegg": 1, "download_l1000": 1})
        jobs.update({"write_manifest": 1, "all": 1})
    return {rule: n for rule, n in jobs.items() if n}


# ------------------------------------------------------------------------ stage jobs as rules run them
def _paths_of(d: dict | None) -> dict:
    return {k: [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v) for k, v in (d or {}).items()}


def make_job(rule, *, input=None, output=None, params=None, wildcards=None, config=None, log=None, threads=1):
    """A `gexflow.runner.Job` as Snakemake would build it for `rule`: paths as strings, the rule's
    job params under params['job'], runtime settings in `config`."""
    from gexflow.runner import Job

    return Job(rule=rule, input=_paths_of(input), output=_paths_of(output), params={"job": copy.deepcopy(params or {})},
               wildcards={k: str(v) for k, v in (wildcards or {}).items()}, threads=threads,
               log=None if log is None else str(log), config=copy.deepcopy(config or {}))


# Runtime settings the model stages read from the config (not results: no params, no hashes).
RUNTIME = {"generate": {"device": "cpu"}, "infer": {"device": "cpu"}, "embed": {"device": "cpu"},
           "download": {"retries": 0, "timeout_s": 5, "backoff_s": 0.01, "cache_dir": ".cache/test-downloads"}}


@dataclass
class RuleRun:
    code: int  # the exit status (0: the entry point returned)
    errors: list  # the log's ERROR lines
    log: str  # the whole log


def run_as_rule(job, entry) -> RuleRun:
    """Run `entry(job)` as a rule script runs it (gexflow.runner.run_job, logging to job.log)."""
    from gexflow.runner import run_job

    code = 0
    try:
        run_job(job, entry)
    except SystemExit as e:
        code = e.code
    text = Path(job.log).read_text() if job.log and Path(job.log).exists() else ""
    return RuleRun(code, [line for line in text.splitlines() if " ERROR " in line], text)


def assert_one_clear_error(run: RuleRun, file_part, field, *, words=(), out=None, root=None, allowed=("out", "logs",
                                                                                                    "in")) -> str:
    """Exit 1 with exactly one error line naming the file, the field and the fix; no traceback;
    nothing written to `out`; nothing in `root` beyond the `allowed` directories. Returns the line."""
    assert run.code == 1, run.log
    assert len(run.errors) == 1, run.log
    msg = run.errors[0]
    assert file_part in msg and f"field '{field}'" in msg and "Fix:" in msg, msg
    assert "Traceback" not in run.log
    for w in words:
        assert w in msg, (w, msg)
    if out is not None:
        out = Path(out)
        assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))
    if root is not None:
        outside = {p.name for p in Path(root).iterdir()} - set(allowed)
        assert not outside, outside
    return msg


# --------------------------------------------------- the real KIRC subset through the data stages
@pytest.fixture(scope="session")
def tiny():
    """tests/config/tiny.yaml, validated (defaults filled) as the workflow sees it."""
    return validated("tests/config/tiny.yaml")


@pytest.fixture(scope="session")
def tiny_paths(tiny):
    """gexflow.paths.Paths of the tiny config: every job's params, as the rules pass them."""
    from gexflow.paths import Paths

    return Paths(tiny, "tests/config/tiny.yaml")


def stage_kirc(dest, matrix=KIRC_SUBSET, samples=KIRC_SAMPLES) -> dict:
    """The KIRC subset (or a variant of it) staged as stage_embedded_bulk stages it."""
    from gexflow.stages.download import stage_embedded_bulk

    dest = Path(dest)
    out = {"expression": dest / "expression.tsv.gz", "samples": dest / "samples.tsv"}
    stage_embedded_bulk(make_job("stage_embedded_bulk", input={"matrix": matrix, "samples": samples,
                                                               "sums": DATA / "SHA256SUMS"}, output=out))
    return out


def filter_job(tiny_paths, staged: dict, out_dir, ds="kirc_subset", dataset: dict | None = None,
               filter_settings: dict | None = None, log=None):
    """A filter_normalise job on staged inputs; `dataset` / `filter_settings` update the params."""
    params = tiny_paths.filter_params(ds)
    params["dataset"].update(dataset or {})
    params["filter"].update(filter_settings or {})
    out_dir = Path(out_dir)
    outputs = {"h5ad": out_dir / "filtered.h5ad", "steps": out_dir / "filter_steps.tsv",
               "ids": out_dir / "id_mapping.tsv", "qc": out_dir / "filter_qc.png"}
    return make_job("filter_normalise", input={**staged, "entrez_map": ENTREZ_MAP}, output=outputs, params=params,
                    wildcards={"dataset": ds}, log=log)


@pytest.fixture(scope="session")
def kirc_filtered(tmp_path_factory, tiny_paths):
    """filtered.h5ad of the real KIRC subset, staged and filtered by the stage entry points once."""
    from gexflow.stages.filter import filter_normalise

    d = tmp_path_factory.mktemp("kirc_filtered")
    job = filter_job(tiny_paths, stage_kirc(d / "staged"), d / "filter")
    filter_normalise(job)
    return Path(job.output["h5ad"])


@pytest.fixture(scope="session")
def kirc_references(tmp_path_factory):
    """The shipped KEGG and L1000 tables staged as stage_embedded_references stages them."""
    from gexflow.stages.download import stage_embedded_references

    d = tmp_path_factory.mktemp("references")
    out = {"kegg": d / "kegg_pathways.tsv", "l1000": d / "l1000_landmarks.tsv"}
    refs = REPO / "resources" / "genesets"
    stage_embedded_references(make_job("stage_embedded_references", input={
        "kegg": refs / "kegg_hsa_pathways_gagedata2017.tsv", "l1000": refs / "l1000_landmark_genes_978.tsv",
        "entrez_map": ENTREZ_MAP, "sums": REPO / "resources" / "SHA256SUMS"}, output=out))
    return {k: Path(v) for k, v in out.items()}


@pytest.fixture(scope="session")
def kirc_split(tmp_path_factory, tiny_paths, kirc_filtered):
    """split.tsv of the tiny experiments on the KIRC subset (3 folds by condition, by patient)."""
    from gexflow.stages.split import split_samples

    out = tmp_path_factory.mktemp("kirc_split") / "split.tsv"
    split_samples(make_job("split_samples", input={"h5ad": kirc_filtered}, output={"split": out},
                           params=tiny_paths.generate.split_params("tiny_rcc"), wildcards={"dataset": "kirc_subset"}))
    return out


@pytest.fixture(scope="session")
def kirc_gene_sets(tmp_path_factory, tiny_paths, kirc_filtered, kirc_references):
    """genes.tsv of the tiny config's KEGG RCC and L1000 sets on the KIRC subset."""
    from gexflow.stages.select import select_genes

    d = tmp_path_factory.mktemp("kirc_sets")
    out = {}
    for name, key in (("kegg_rcc", "kegg"), ("l1000", "l1000")):
        genes = d / name / "genes.tsv"
        select_genes(make_job("select_genes", input={"h5ad": kirc_filtered, key: kirc_references[key]},
                              output={"genes": genes, "coverage": d / name / "coverage.tsv"},
                              params={"spec": tiny_paths.select_spec(name, "kirc_subset")},
                              wildcards={"dataset": "kirc_subset", "selection": name}))
        out[name] = genes
    return out


# --------------------------------------------------------------------------- small synthetic fixtures
def synthetic_matrix(n=30, g=12, seed=0):
    """A synthetic (not biological) test matrix: three groups of samples around random centres."""
    import numpy as np

    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], n // 3)
    centres = rng.normal(0, 2, size=(3, g))
    return centres[groups] + rng.normal(0, 0.3, size=(n, g)), groups.astype(str)


# ------------------------------------------------------------------------------- the SIGKILL harness
KILL_PREAMBLE = """\
import os, signal, sys
sys.path[:0] = {paths!r}
CHECKPOINT_DIR, KILL_AT = sys.argv[1], int(sys.argv[2])
RESULT = os.path.join(CHECKPOINT_DIR, "result.pt")  # torch.save the run's result here


def kill_at_epoch(epoch):
    \"\"\"The loop's on_epoch_end: SIGKILL after epoch KILL_AT, no clean-up, as a killed cluster job.\"\"\"
    if epoch == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)

"""


@dataclass
class KilledAndResumed:
    uninterrupted: dict  # the result of a run never killed
    resumed: dict  # the result of the run killed, then rerun in the same checkpoint directory
    checkpoint_at_kill: dict  # last.pt as the kill left it (read with weights_only=True)


def run_killed_then_resumed(script_text: str, tmp_path, *, kill_after: int, timeout=300) -> KilledAndResumed:
    """Run a training script (`script_text`, after KILL_PREAMBLE: it trains with checkpoints in
    CHECKPOINT_DIR, passes `kill_at_epoch` as on_epoch_end and saves its result to RESULT) once
    uninterrupted, once SIGKILLed after epoch `kill_after`, and once more to resume the killed run.
    Test modules under tests/unit can be imported from the script."""
    import torch

    script = Path(tmp_path) / "train_then_kill.py"
    paths = [str(TESTS / "unit"), str(TESTS), str(REPO / "src")]
    script.write_text(KILL_PREAMBLE.format(paths=paths) + textwrap.dedent(script_text))

    def run(ckpt_dir, kill_at):
        return subprocess.run([sys.executable, str(script), str(ckpt_dir), str(kill_at)], capture_output=True,
                              text=True, timeout=timeout)

    full, killed = Path(tmp_path) / "uninterrupted", Path(tmp_path) / "killed"
    p = run(full, -1)
    assert p.returncode == 0, p.stderr[-3000:]
    p = run(killed, kill_after)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    assert (killed / "last.pt").exists() and not (killed / "result.pt").exists()
    at_kill = torch.load(killed / "last.pt", weights_only=True)  # a checkpoint is tensors and plain data
    p = run(killed, -1)
    assert p.returncode == 0, p.stderr[-3000:]
    return KilledAndResumed(torch.load(full / "result.pt", weights_only=False),
                            torch.load(killed / "result.pt", weights_only=False), at_kill)
