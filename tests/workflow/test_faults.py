"""Faults through Snakemake itself: hostile names never write outside the working directory,
config errors name the config files in force, and a damaged input file stops its job with one
line naming the user's file and leaves no partial or temporary file anywhere."""

import pytest
import yaml

from conftest import KIRC_SUBSET, TINY_CONFIG, copy_tiny_config, snakemake

pytestmark = pytest.mark.workflow


def tree(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def small_config(workdir, name="cfg.yaml", **edits):
    """The tiny config doing the kirc_subset filter only."""
    tiny = yaml.safe_load(TINY_CONFIG.read_text())
    base = {"run.datasets": ["kirc_subset"], "deg.datasets": [], "select.datasets": []}
    base.update({f"{stage}.run": [] for stage in ("generate", "infer", "embed") if stage in tiny})
    base.update(edits)
    return copy_tiny_config(workdir, name, **base)


def test_hostile_dataset_name_writes_nothing_outside(workdir):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["datasets"]["../../etc"] = cfg["datasets"]["kirc_subset"]
    cfg.update({"run": {"datasets": ["../../etc"]}, "deg": {**cfg["deg"], "datasets": []},
                "select": {**cfg["select"], "datasets": []}, "generate": {**cfg["generate"], "run": []}})
    path = workdir / "hostile.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parent = workdir.parent
    before = tree(parent)
    r = snakemake(workdir, "--cores", 1, "--configfile", path, "--replace-workflow-config")
    assert r.returncode != 0
    assert "field 'datasets'" in r.stderr and "hostile.yaml" in r.stderr and "Fix:" in r.stderr
    created = {p for p in tree(parent) - before if not p.startswith(f"{workdir.name}/.snakemake")}
    assert created == set(), created
    assert not (workdir / "results").exists()


def test_config_error_names_only_the_files_in_force(workdir):
    cfg = small_config(workdir, **{"filter.min_fraction": 2})
    r = snakemake(workdir, "-n", "--configfile", cfg, "--replace-workflow-config")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "cfg.yaml: field 'filter.min_fraction'" in out
    assert "config/config.yaml" not in out.split("field 'filter.min_fraction'")[0].splitlines()[-1]
    r = snakemake(workdir, "-n", "--configfile", cfg)  # merged over the default: the file that set the key
    line = next(x for x in (r.stdout + r.stderr).splitlines() if "field 'filter.min_fraction'" in x)
    assert "cfg.yaml: field 'filter.min_fraction'" in line and "config/config.yaml" not in line, line


def test_truncated_matrix_stops_with_one_line_and_no_leftovers(workdir):
    bad = workdir / "truncated.tsv.gz"
    bad.write_bytes(KIRC_SUBSET.read_bytes()[:38000])
    cfg = small_config(workdir, **{"datasets.kirc_subset.matrix": str(bad)})
    r = snakemake(workdir, "--cores", 1, "--configfile", cfg)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if "ERROR gexflow" in line]
    assert len(lines) == 1 and "truncated.tsv.gz: field '(whole file)'" in lines[0] and "Fix:" in lines[0], lines
    assert "Traceback" not in r.stderr
    # nothing of the failed dataset (its staging stopped), no temporary file anywhere; the shared
    # references, staged by their own job, may be complete
    results = workdir / "results"
    assert not (results / "kirc_subset").exists() or not [p for p in (results / "kirc_subset").rglob("*")
                                                          if p.is_file()]
    assert not [p for p in tree(results) if ".part" in p or ".tmp" in p] if results.exists() else True


def test_results_directory_is_configurable(workdir, tmp_path):
    out = tmp_path / "elsewhere" / "run1"
    cfg = small_config(workdir, results_dir=str(out))
    _ok = snakemake(workdir, "--cores", 1, "--configfile", cfg)
    assert _ok.returncode == 0, _ok.stderr[-3000:]
    assert (out / "pipeline_info/manifest.json").exists() and list(out.glob("kirc_subset/filter-*/filtered.h5ad"))
    assert not (workdir / "results").exists()
    bad = small_config(workdir, "bad.yaml", results_dir="../outside")
    r = snakemake(workdir, "-n", "--configfile", bad)
    assert r.returncode != 0 and "field 'results_dir'" in r.stdout + r.stderr


def test_two_cohort_configs_keep_two_folders_reports_and_manifests(workdir):
    """Two cohort configs (each names its datasets, neither sets results_dir) run one after the
    other over the default config: each writes results-<its name>/ with its own manifest, logs and
    report; nothing of the default config runs, nothing lands in results/."""
    import subprocess
    import sys

    from conftest import DELETE, ok

    for name, min_expression in (("cohort_a", 1.0), ("cohort_b", 2.0)):
        cfg = small_config(workdir, f"{name}.yaml", results_dir=DELETE, **{"filter.min_expression": min_expression})
        out = ok(snakemake(workdir, "--cores", 1, "--configfile", cfg))
        assert f"results_dir: results-{name}" in out
        where = subprocess.run([sys.executable, "-m", "gexflow.config", "--results-dir", "config/config.yaml",
                                str(cfg)], cwd=workdir, capture_output=True, text=True, check=True).stdout.strip()
        assert where == f"results-{name}"
        ok(snakemake(workdir, "--configfile", cfg, "--report", workdir / where / "report.html"))
    for name in ("cohort_a", "cohort_b"):
        d = workdir / f"results-{name}"
        assert (d / "report.html").stat().st_size > 10000 and (d / "pipeline_info/manifest.json").exists()
        assert list(d.glob("logs/kirc_subset/filter-*.log"))
        assert sorted(p.name for p in d.iterdir() if p.is_dir()) == ["benchmarks", "kirc_subset", "logs",
                                                                      "pipeline_info", "references"]
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_an_unexpected_exception_in_a_rule_leaves_its_traceback_in_the_log(workdir, tmp_path):
    """A bug injected into filter_normalise (a sitecustomize on PYTHONPATH replaces the stage's
    entry point in the rule's own Python process): the job's log holds the whole traceback, the
    console one line naming the rule and the log, and the filter directory stays empty."""
    import os

    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import gexflow.stages.filter as f\n"
        "def broken(job):\n"
        "    raise RuntimeError('injected for the test')\n"
        "f.filter_normalise = broken\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inject), os.environ.get("PYTHONPATH", "")])}
    cfg = small_config(workdir, "cfg.yaml", **{"run.datasets": ["kirc_subset"]})
    r = snakemake(workdir, "--cores", 1, "--configfile", cfg, env=env)
    assert r.returncode != 0
    logs = list((workdir / "logs" / "kirc_subset").glob("filter-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "Traceback" in text and "unexpected error in rule filter_normalise" in text and "injected" in text
    console = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("gexflow: rule filter_normalise")]
    assert len(console) == 1 and "RuntimeError: injected for the test" in console[0] and str(logs[0].name) in \
        console[0], console
    assert not [p for p in (workdir / "results" / "kirc_subset").glob("filter-*/*")]
