"""A new user's own cohorts, in the shapes users bring, built from real shipped data and run from
an own_data.yaml-style config through filtering, DEG calling, gene selection and a small
generator experiment:

- a GEO microarray DataSet (GDS507: RCC vs normal, Affymetrix probes, MAS5 signal) read from its
  SOFT file, probes mapped and collapsed through the GPL97 annotation, labels RCC/normal mapped
  to tumor/normal, one individual's samples excluded by a sheet filter, Welch / paired t-test;
- TCGA RSEM expected counts with `SYMBOL|ENTREZ` row ids, 5 GBM vs 5 LGG, unpaired, a gzipped
  sample sheet, the contrast project_id (not tumour/normal): the rank-sum test's smallest possible
  p (2/252) cannot pass the correction, and the DEG summary and log say so.

Two label vocabularies in one config; a DEG setting of one cohort reruns nothing of the other."""

import gzip
import json

import pandas as pd
import pytest
import yaml

from conftest import REPO, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def _ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """A working directory with the 5 vs 5 SYMBOL|ENTREZ count cohort written as a user would
    have it, and the own-data config for both cohorts; the pipeline run once."""
    import os

    work = tmp_path_factory.mktemp("own")
    for name in ("resources", "src", "tests", "config"):
        os.symlink(REPO / name, work / name)
    sheet = pd.read_csv(REPO / "resources/tcga/gbm_lgg_samples.tsv", sep="\t", dtype=str)
    sheet = pd.concat([sheet[sheet.project_id == "TCGA-GBM"].head(5), sheet[sheet.project_id == "TCGA-LGG"].head(5)])
    counts = pd.read_csv(REPO / "resources/tcga/gbm_lgg_rsem_rawcount.tsv.gz", sep="\t")
    counts = counts[["gene_id", *sheet["sample_barcode"]]]  # ids only: "A1BG|1", no symbol column
    (work / "data").mkdir()
    with gzip.open(work / "data/gbm_lgg_5v5_counts.tsv.gz", "wt") as fh:
        counts.to_csv(fh, sep="\t", index=False)
    with gzip.open(work / "data/gbm_lgg_5v5_samples.tsv.gz", "wt") as fh:  # a gzipped sheet is fine
        sheet.to_csv(fh, sep="\t", index=False)

    cfg = yaml.safe_load((REPO / "config/own_data.yaml").read_text())
    cfg["datasets"]["my_cohort"]["exclude"] = {"individual": ["035"]}  # drop one patient's two samples
    cfg["datasets"]["gbm_lgg_5v5"] = {
        "kind": "bulk", "source": "embedded", "matrix": "data/gbm_lgg_5v5_counts.tsv.gz",
        "samples": "data/gbm_lgg_5v5_samples.tsv.gz", "scale": "counts", "gene_id_column": "gene_id",
        "gene_id_type": "symbol_entrez", "duplicate_gene_ids": "drop_identical",
        "sample_id_column": "sample_barcode", "patient_column": "patient_barcode",
        "categorical_covariates": ["project_id", "gender"], "numerical_covariates": ["age_at_diagnosis_years"],
        "filter": {"min_library_size": 0},
        "deg": {"contrast": {"column": "project_id", "groups": ["TCGA-GBM", "TCGA-LGG"]}, "method": "wilcoxon",
                "correction": "fdr_bh", "design": "unpaired"}}
    cfg["run"]["datasets"] = ["my_cohort", "gbm_lgg_5v5"]
    cfg["deg"]["datasets"] = ["my_cohort", "gbm_lgg_5v5"]
    cfg["select"] = {"datasets": ["my_cohort"], "sets": {"kegg_rcc": {"method": "kegg", "pathways": ["hsa05211"]},
                                                        "deg": {"method": "deg", "top_n": 100},
                                                        "glioma": {"method": "kegg", "pathways": ["hsa05214"],
                                                                   "datasets": []}}}
    # 5 patients per class, 2 folds: a test fold of 3 leaves 2, so the validation part is cut in 2
    # (val_fraction 0.25; the default 0.15 would need 3 and check-config says so)
    cfg["split"] = {"folds": 2, "val_fraction": 0.25}
    exp = cfg["generate"]["experiments"]["my_cohort_rcc"]
    exp["models"] = ["cvae", "gaussian", "shuffled"]
    cfg["generate"]["experiments"]["gbm_lgg_5v5_glioma"] = {
        "dataset": "gbm_lgg_5v5", "genes": "glioma", "label": "project_id", "categorical": ["project_id"],
        "models": ["gaussian", "shuffled"]}
    cfg["generate"]["run"] = ["my_cohort_rcc", "gbm_lgg_5v5_glioma"]
    cfg["generate"]["settings"] = {"wgan_gp": {"epochs": 4}, "cvae": {"epochs": 4}}
    cfg["generate"]["evaluation"] = {"detection_folds": 2}
    path = work / "my.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = snakemake(work, "--cores", 2, "--configfile", path)
    return work, path, _ok(r)


def _one(work, pattern):
    hits = sorted(work.glob(pattern))
    assert len(hits) == 1, (pattern, hits)
    return hits[0]


def test_geo_probes_are_mapped_collapsed_and_filtered(cohorts):
    work, _, _ = cohorts
    ids = pd.read_csv(_one(work, "results-my/my_cohort/filter-*/id_mapping.tsv"), sep="\t").set_index("status")
    assert ids.loc["mapped", "ids"] == 12425 and ids.loc["ambiguous", "ids"] == 754  # of 22,645 probes
    import anndata as ad

    a = ad.read_h5ad(_one(work, "results-my/my_cohort/filter-*/filtered.h5ad"))
    assert a.n_obs == 15  # 17 samples, individual 035 (two samples) excluded by the config
    assert set(a.obs["disease_state"]) == {"tumor", "normal"}  # RCC -> tumor by condition_map
    assert a.var["probes"].max() > 1 and a.var["symbol"].is_unique  # probes collapsed, one row per gene
    summary = pd.read_csv(_one(work, "results-my/my_cohort/deg-*/summary.tsv"), sep="\t", index_col=0)["value"]
    assert summary["method"] == "welch" and "paired t-test" in summary["design_note"]
    assert int(summary["deg_both"]) > 0 and "warning" not in summary.index


def test_symbol_entrez_counts_five_vs_five_warn_about_the_p_value_floor(cohorts):
    work, _, out = cohorts
    ids = pd.read_csv(_one(work, "results-my/gbm_lgg_5v5/filter-*/id_mapping.tsv"), sep="\t").set_index("status")
    assert ids.loc["mapped", "fraction"] > 0.9  # "A1BG|1" parsed into symbol and Entrez id
    import anndata as ad

    a = ad.read_h5ad(_one(work, "results-my/gbm_lgg_5v5/filter-*/filtered.h5ad"), backed="r")
    assert a.var.loc["A1BG|1", "symbol"] == "A1BG" and a.var.loc["A1BG|1", "entrez_id"] == "1"
    summary = pd.read_csv(_one(work, "results-my/gbm_lgg_5v5/deg-*/summary.tsv"), sep="\t", index_col=0)["value"]
    assert summary["group_a"] == "TCGA-GBM" and summary["n_group_a"] == "5" and summary["n_group_b"] == "5"
    assert "0.00794" in summary["warning"] and "no gene can pass" in summary["warning"]
    assert int(summary["deg_both"]) == 0
    degs = pd.read_csv(_one(work, "results-my/gbm_lgg_5v5/deg-*/degs.tsv"), sep="\t")
    assert degs["log2fc"].abs().max() < float("inf")  # pseudo-count where a group mean is 0
    log = _one(work, "results-my/logs/gbm_lgg_5v5/deg-*.log").read_text()
    assert "WARNING" in log and "smallest p-value this design allows" in log


def test_small_generator_experiments_are_flagged(cohorts):
    work, _, _ = cohorts
    for ds in ("my_cohort", "gbm_lgg_5v5"):
        table = pd.read_csv(_one(work, f"results-my/{ds}/generate-*/compare-*/comparison_table.tsv"), sep="\t")
        warning = table.loc[table["model"] == "(warning)", "gamma"]
        assert len(warning) == 1 and "too small to rank models" in warning.iloc[0], ds
    manifest = json.loads((work / "results-my/pipeline_info/manifest.json").read_text())
    assert manifest["config"]["datasets"]["gbm_lgg_5v5"]["gene_id_type"] == "symbol_entrez"


def test_one_cohorts_deg_setting_reruns_nothing_of_the_other(cohorts):
    work, path, _ = cohorts
    cfg = yaml.safe_load(path.read_text())
    cfg["datasets"]["gbm_lgg_5v5"]["deg"]["alpha"] = 0.1
    cfg["results_dir"] = "results-my"  # the first run's folder (by default a config writes results-<its name>)
    changed = work / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    out = _ok(snakemake(work, "-n", "--configfile", changed))
    assert planned_jobs(out) == {"call_degs": 1, "write_manifest": 1, "all": 1}, planned_jobs(out)
    outputs = [line for line in out.splitlines() if line.strip().startswith("output:")]
    assert outputs and not any("my_cohort" in line for line in outputs)
