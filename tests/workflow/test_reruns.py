"""What reruns when something changes, tested on the shipped configs without training anything:
`snakemake --touch` records every job of the default config as done (its params included), then a
dry run shows what another config, or an edited library file, would rerun and why."""

import base64
import os
import re
import shutil
import subprocess

import pytest

from gexflow import code_inputs

from conftest import REPO, SNAKEMAKE, have_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.skipif(not have_snakemake(), reason="snakemake not installed")]


def snakemake(workdir, *args, snakefile=REPO / "Snakefile"):
    cmd = [SNAKEMAKE, "-s", str(snakefile), "-d", str(workdir), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def touched_default_run(tmp_path, repo=REPO):
    """A working directory where every job of config/config.yaml is recorded as finished, all
    outputs at one mtime (so nothing is older than what it was made from)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("resources", "tests", "config"):
        os.symlink(REPO / name, work / name)
    r = snakemake(work, "--touch", "--cores", "1", snakefile=repo / "Snakefile")
    assert r.returncode == 0, r.stderr[-3000:]
    stamp = max(p.stat().st_mtime for p in (repo / "src").rglob("*.py")) + 100
    for name in os.listdir(work / ".snakemake" / "metadata"):
        out = work / base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
        os.utime(out, (stamp, stamp))
    r = snakemake(work, "-n", snakefile=repo / "Snakefile")
    assert "Nothing to be done" in r.stdout, r.stdout[-3000:]
    return work, stamp


def scheduled(output: str) -> list[tuple[str, str]]:
    """(rule, reason) of every job a dry run lists (the target rule `all` aside)."""
    return [j for j in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    reason: (.*)$", output, re.M)
            if j[0] != "all"]


def test_shipped_configs_over_the_default_results_change_no_params(tmp_path):
    work, _ = touched_default_run(tmp_path)
    for other in ("config/full.yaml", "config/own_data.yaml"):
        # results_dir=results: own_data.yaml names its datasets, so it would write results-own_data/
        r = snakemake(work, "-n", "--configfile", other, "--config", "results_dir=results")
        assert r.returncode == 0, r.stderr[-3000:]
        jobs = scheduled(r.stdout)
        assert jobs, other
        assert not [j for j in jobs if "Params have changed" in j[1]], (other, [j for j in jobs if "Params" in j[1]])
    # the check can fail: a recorded param that differs from the config's is reported
    meta = work / ".snakemake" / "metadata"
    name = next(n for n in sorted(os.listdir(meta))
                if base64.urlsafe_b64decode(n + "==").decode().endswith("/split.tsv"))  # not classifiers_per_split
    text = (meta / name).read_text()
    (meta / name).write_text(text.replace("'seed': 42", "'seed': 43"))
    jobs = scheduled(snakemake(work, "-n").stdout)
    assert [r for r, why in jobs if "Params have changed" in why] == ["split_samples"]


def test_editing_selection_py_reruns_exactly_the_rules_whose_stage_imports_it(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "Snakefile", repo / "Snakefile")
    for name in ("src", "workflow", "scripts", "profiles", "envs"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("resources", "tests", "config"):
        os.symlink(REPO / name, repo / name)
    work, stamp = touched_default_run(tmp_path, repo)
    edited = repo / "src" / "gexflow" / "selection.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")  # Snakemake compares content, not only mtime
    os.utime(edited, (stamp + 10, stamp + 10))
    jobs = scheduled(snakemake(work, "-n", snakefile=repo / "Snakefile").stdout)
    direct = {rule for rule, why in jobs if str(edited) in why}
    importers = {s.stem for s in (REPO / "scripts").glob("*.py")
                 if "gexflow.selection" in code_inputs.rule_modules(str(s))}
    rules = {rule for rule, _ in jobs}
    # Snakemake names the edited file only where it is the first reason; an importer that is also
    # downstream of another (report_embedding after evaluate_embedding) gives "updated by another job"
    assert direct and direct <= importers <= rules, (direct, importers, rules)
    assert importers == {"select_genes", "evaluate_embedding", "report_embedding"}
    others = [(rule, why) for rule, why in jobs if rule not in direct]
    assert all(why.startswith("Input files updated by another job") for _, why in others), others
    # what neither imports it nor reads a selection stays done
    assert not rules & {"filter_normalise", "train_embedding", "call_degs", "split_samples", "stage_embedded_bulk"}


def test_a_new_release_request_reruns_only_the_sampling(tmp_path):
    work, _ = touched_default_run(tmp_path)
    (work / "more.yaml").write_text("generate:\n  release:\n    n: 2000\n    seed: 3\n")
    jobs = scheduled(snakemake(work, "-n", "--configfile", work / "more.yaml").stdout)
    assert sorted({rule for rule, _ in jobs}) == ["sample_release", "write_manifest"], jobs
    assert sum(rule == "sample_release" for rule, _ in jobs) == 2  # kirc_rcc and pancan11_l1000
    (work / "holdout.yaml").write_text("generate:\n  release:\n    holdout_fraction: 0.3\n")
    rules = {rule for rule, _ in scheduled(snakemake(work, "-n", "--configfile", work / "holdout.yaml").stdout)}
    assert rules == {"refit_generator", "sample_release", "write_manifest"}
