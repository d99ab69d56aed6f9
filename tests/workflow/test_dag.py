"""The Snakemake DAG itself: lint and formatting, the jobs each shipped config plans (counted by
plain arithmetic over the validated config, conftest.expected_jobs), and the checks that stop a
run before its first job or leave no partial output."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import (
    KIRC_SAMPLES,
    REPO,
    SNAKEMAKE,
    copy_tiny_config,
    expected_jobs,
    ok,
    planned_jobs,
    snakemake,
    validated,
)

pytestmark = pytest.mark.workflow


def test_lint_is_clean():
    out = ok(subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300))
    assert "Lints for" not in out
    assert "Congratulations" in out


def test_snakefmt_clean():
    snakefmt = str(Path(SNAKEMAKE).parent / "snakefmt")
    ok(subprocess.run([snakefmt, "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True,
                      text=True, timeout=120))


@pytest.mark.parametrize("files", [(), ("config/full.yaml",), ("config/own_data.yaml",), ("tests/config/tiny.yaml",)],
                         ids=["default", "full", "own_data", "tiny"])
def test_dry_run_plans_the_jobs_the_config_implies(workdir, files):
    """Every shipped config over the default: the jobs planned equal those its experiments,
    models, seeds, folds, grids, gene sets and releases imply."""
    args = [a for f in files for a in ("--configfile", REPO / f)]
    jobs = planned_jobs(ok(snakemake(workdir, "-n", *args)))
    want = expected_jobs(validated("config/config.yaml", *files))
    assert jobs == want, {k: (jobs.get(k), want.get(k)) for k in set(jobs) | set(want) if jobs.get(k) != want.get(k)}


def test_expected_jobs_counts_what_the_default_config_says():
    """The arithmetic itself, against counts read off config/config.yaml by hand: it could agree
    with a wrong DAG only by making the same mistake twice."""
    jobs = expected_jobs(validated("config/config.yaml"))
    # 5 bulk + 2 single-cell datasets; DEGs on kirc and gbm_lgg; 4 sets on kirc plus kegg_glioma
    # on gbm_lgg and l1000 on pancan11 and hsmm
    assert (jobs["filter_normalise"], jobs["call_degs"], jobs["select_genes"]) == (7, 2, 7)
    # generators, 2 folds: kirc_rcc 7 models, kirc_deg 5, pancan11 5 x 2 seeds, gbm_lgg 7; the
    # diffusion model of kirc_rcc on a 2-point grid (train_grid_point + select_generator)
    assert jobs["train_generator"] == 6 * 2 + 5 * 2 + 5 * 2 * 2 + 7 * 2
    assert (jobs["train_grid_point"], jobs["select_generator"], jobs["evaluate_generator"]) == (4, 2, 28)
    # releases: kirc_rcc and pancan11_l1000 cohorts, pancan11 inference, pancan11 embedding
    assert (jobs["refit_generator"], jobs["sample_release"]) == (2, 2)
    assert (jobs["release_inference_model"], jobs["release_embedding"]) == (1, 1)
    # inference: pancan11 (5 models) and hsmm (L1000 and learned landmarks, 5 models each), 2 folds
    assert (jobs["train_inference_model"], jobs["learn_landmarks"], jobs["evaluate_inference"]) == (30, 2, 15)
    # embeddings: pancan11 and gtex26, 2 sizes, fold 0; one split per dataset and label
    assert (jobs["train_embedding"], jobs["impute_missing"], jobs["split_samples"]) == (4, 1, 5)


def test_bad_config_on_the_command_line_stops_before_any_job(workdir):
    cfg = copy_tiny_config(workdir, **{"filter.min_fraction": 1.5})
    r = snakemake(workdir, "--cores", 1, "--configfile", cfg)
    assert r.returncode != 0
    assert "field 'filter.min_fraction'" in r.stderr and "Fix:" in r.stderr
    assert not (workdir / "results").exists()


def test_bad_input_leaves_no_partial_output(workdir):
    broken = workdir / "broken_samples.tsv"
    sheet = pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)
    sheet.loc[0, "sample_barcode"] = "TCGA-XX-0000-01A"
    sheet.to_csv(broken, sep="\t", index=False)
    cfg = copy_tiny_config(workdir, **{"datasets.kirc_subset.samples": str(broken), "run.datasets": ["kirc_subset"],
                                       "generate.run": [], "infer.run": [], "embed.run": []})
    r = snakemake(workdir, "--cores", 1, "--configfile", cfg)
    assert r.returncode != 0
    assert "field 'sample_barcode'" in r.stderr and "TCGA-XX-0000-01A" in r.stderr
    assert "broken_samples.tsv" in r.stderr  # the user's file, not the staged copy
    assert not list((workdir / "results/kirc_subset").glob("filter-*/*"))
