"""Downloads and resumption through Snakemake: the Xena and KEGG/L1000 download rules against a
local HTTP server serving real data in the remote layouts give what the embedded data gives, and a
run SIGKILLed mid-job is finished by the next run with the outputs of an uninterrupted one."""

import gzip
import json
import os
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from conftest import (
    KIRC_SAMPLES,
    KIRC_SUBSET,
    MODEL_STAGES_OFF,
    REPO,
    SNAKEMAKE,
    assert_same_run_records,
    copy_tiny_config,
    make_workdir,
    ok,
    serve_directory,
    snakemake,
)

pytestmark = pytest.mark.workflow


def _xena_fixture(root: Path):
    """Real KIRC subset rewritten in the UCSC Xena hub layout (HiSeqV2: log2(RSEM + 1);
    clinicalMatrix keyed by the 15-character sample id)."""
    expr = pd.read_csv(KIRC_SUBSET, sep="\t", index_col=0)
    xena = np.log2(np.maximum(2.0 ** expr - 0.25, 0) + 1).round(4)
    xena.index.name = "sample"
    d = root / "download"
    d.mkdir(parents=True)
    with gzip.open(d / "TCGA.KIRC.sampleMap%2FHiSeqV2.gz", "wt") as fh:
        xena.to_csv(fh, sep="\t")
    sheet = pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)
    clin = pd.DataFrame({"sampleID": sheet["sample_barcode"].str[:15], "gender": sheet["gender"],
                         "age_at_initial_pathologic_diagnosis": sheet["age_at_diagnosis_years"],
                         "pathologic_stage": sheet["pathologic_stage"]})
    with gzip.open(d / "KIRC_clinicalMatrix.gz", "wt") as fh:
        clin.to_csv(fh, sep="\t", index=False)


def test_xena_download_rule_matches_embedded_data(workdir, tmp_path):
    served = tmp_path / "served"
    _xena_fixture(served)
    xena_ds = {"kind": "bulk", "source": "xena", "cohort": "KIRC", "scale": "log2p1",
               "gene_id_column": "gene_symbol", "sample_id_column": "sample_barcode",
               "condition_column": "condition", "patient_column": "patient_barcode",
               "categorical_covariates": ["condition", "gender"], "numerical_covariates": ["age_at_diagnosis_years"]}
    with serve_directory(served) as base:
        cfg = copy_tiny_config(workdir, **MODEL_STAGES_OFF, **{
            "download.urls.xena_expression": base + "/download/TCGA.{cohort}.sampleMap%252FHiSeqV2.gz",
            "download.urls.xena_clinical": base + "/download/{cohort}_clinicalMatrix.gz",
            "datasets.kirc_xena": xena_ds, "run.datasets": ["kirc_subset", "kirc_xena"]})
        ok(snakemake(workdir, "--cores", 2, "--configfile", cfg))
    emb = ad.read_h5ad(next((workdir / "results/kirc_subset").glob("filter-*/filtered.h5ad")))
    xen = ad.read_h5ad(next((workdir / "results/kirc_xena").glob("filter-*/filtered.h5ad")))
    assert list(xen.var_names) == list(emb.var_names)
    xen = xen[list(emb.obs_names)]
    np.testing.assert_allclose(xen.X, emb.X, atol=1e-4)
    assert (xen.obs["condition"].astype(str).values == emb.obs["condition"].astype(str).values).all()
    np.testing.assert_array_equal(xen.obs["age_at_diagnosis_years"], emb.obs["age_at_diagnosis_years"])


def _remote_references_fixture(root: Path):
    """The shipped KEGG and L1000 tables rewritten in the KEGG REST and GEO gene_info layouts."""
    kegg = pd.read_csv(REPO / "resources/genesets/kegg_hsa_pathways_gagedata2017.tsv", sep="\t", dtype=str)
    (root / "list/pathway").mkdir(parents=True)
    names = kegg.drop_duplicates("pathway_id")
    (root / "list/pathway/hsa").write_text("".join(
        f"path:{p}\t{n} - Homo sapiens (human)\n" for p, n in zip(names.pathway_id, names.pathway_name)))
    (root / "link/hsa").mkdir(parents=True)
    (root / "link/hsa/pathway").write_text("".join(
        f"path:{p}\thsa:{e}\n" for p, e in zip(kegg.pathway_id, kegg.entrez_id)))
    lm = pd.read_csv(REPO / "resources/genesets/l1000_landmark_genes_978.tsv", sep="\t", dtype=str)
    info = pd.DataFrame({"pr_gene_id": lm.entrez_id, "pr_gene_symbol": lm.gene_symbol_lincs,
                         "pr_gene_title": lm.gene_title_lincs, "pr_is_lm": "1", "pr_is_bing": "1"})
    with gzip.open(root / "gene_info.txt.gz", "wt") as fh:
        info.to_csv(fh, sep="\t", index=False)


def test_remote_references_give_the_same_gene_lists(workdir, tmp_path):
    served = tmp_path / "served"
    _remote_references_fixture(served)
    sets = {"rcc": {"method": "kegg", "pathways": ["hsa05211"]}, "lm": {"method": "l1000"}}
    emb_cfg = copy_tiny_config(workdir, "embedded.yaml", **MODEL_STAGES_OFF,
                               **{"run.datasets": ["kirc_subset"], "deg.datasets": [], "select.sets": sets})
    ok(snakemake(workdir, "--cores", 2, "--configfile", emb_cfg))
    with serve_directory(served) as base:
        cfg = copy_tiny_config(workdir, "remote.yaml", **MODEL_STAGES_OFF, **{
            "run.datasets": ["kirc_subset"], "deg.datasets": [], "references.source": "remote",
            "select.sets": {"rcc": {"method": "kegg", "pathways": ["hsa05211"]}, "lm": {"method": "l1000"}},
            "download.urls.kegg_rest": base, "download.urls.l1000_gene_info": base + "/gene_info.txt.gz"})
        out = ok(snakemake(workdir, "--cores", 2, "--configfile", cfg))
    assert "download_kegg" in out and "download_l1000" in out
    sel = workdir / "results/kirc_subset"
    for name in ("rcc", "lm"):
        lists = [pd.read_csv(p / "genes.tsv", sep="\t") for p in sorted(sel.glob(f"select-{name}-*"))]
        assert len(lists) == 2  # one per reference source, each in its own hashed directory
        assert set(lists[0]["gene_id"]) == set(lists[1]["gene_id"]) and len(lists[0]) > 0


def test_killed_run_is_picked_up_by_rerun_incomplete(workdir, tmp_path_factory):
    """SIGKILL the whole run while a job is marked incomplete; the next run (the default profile
    sets rerun-incomplete) finishes it, and the outputs equal those of an uninterrupted run."""
    import signal
    import time

    cfg = copy_tiny_config(workdir, **{"run.datasets": ["kirc_subset", "pbmc68k"], "infer.run": [], "embed.run": []})
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1", "--configfile", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker_dir = workdir / ".snakemake" / "incomplete"
    seen, deadline = False, time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        # Wait for a job that has run a moment (so it is mid-way), then kill everything at once.
        if marker_dir.exists() and any(marker_dir.iterdir()):
            time.sleep(0.5)
            if any(marker_dir.iterdir()):
                seen = True
                os.killpg(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert seen, "no job was caught running"
    assert not (workdir / "results/pipeline_info/manifest.json").exists()

    # A killed snakemake leaves its lock: the documented recovery is --unlock, then run again.
    ok(snakemake(workdir, "--unlock", "--configfile", cfg))
    out = ok(snakemake(workdir, "--cores", 2, "--configfile", cfg))
    assert "Nothing to be done" not in out
    reference = make_workdir(tmp_path_factory.mktemp("uninterrupted"))
    ref_cfg = copy_tiny_config(reference, **{"run.datasets": ["kirc_subset", "pbmc68k"], "infer.run": [],
                                             "embed.run": []})
    ok(snakemake(reference, "--cores", 2, "--configfile", ref_cfg))
    a = json.loads((workdir / "results/pipeline_info/manifest.json").read_text())
    b = json.loads((reference / "results/pipeline_info/manifest.json").read_text())
    assert a["outputs"] == b["outputs"]
    assert_same_run_records(workdir, reference, a["run_records"], b["run_records"])
