"""The embedding stage end to end on the tiny config (real KIRC-subset genes): train, embed the
held-out samples, evaluate, report; the embedding opens in scanpy."""

import json

import pandas as pd
import pytest

from conftest import copy_tiny_config, have_snakemake, snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.skipif(not have_snakemake(), reason="snakemake not installed")
def test_tiny_embedding_run(workdir):
    import scanpy as sc

    cfg = copy_tiny_config(workdir, **{"generate.run": [], "infer.run": []})
    r = snakemake(workdir, "--cores", 2, "--configfile", cfg)
    assert r.returncode == 0, r.stderr[-3000:]
    exp_dir = next((workdir / "results/kirc_subset").glob("embed-tiny_fe-*"))
    fold = next(exp_dir.glob("fe2d-*/fold_0"))
    emb = sc.read_h5ad(fold / "embedding.h5ad")
    assert emb.n_obs == 144 and emb.n_vars == 2 and "X_fe" in emb.obsm
    roles = emb.obs["split_role"]
    assert set(roles) == {"train", "val", "test"}
    assert (emb.obs.loc[roles != "train", "embedded_by"] == "embed_new_samples").all()
    genes = sc.read_h5ad(fold / "gene_embedding.h5ad")
    assert genes.n_vars == 4 and "symbol" in genes.obs
    card = json.loads((fold / "model_card.json").read_text())
    assert card["n_train"] == (roles == "train").sum() and "mse" in card["validation"]
    report = next(exp_dir.glob("report-*"))
    table = pd.read_csv(report / "classifier_table.tsv", sep="\t")
    assert {"FE", "FE train samples", "FE held-out samples", "pca", "nmf", "tsne", "raw"} <= set(table.columns)
    imp = pd.read_csv(report / "imputation.tsv", sep="\t")
    assert set(imp["method"]) == {"factorized", "gene_mean", "knn_imputer"}
    genes_t = pd.read_csv(report / "gene_neighbours.tsv", sep="\t")
    assert set(genes_t["reference"]) == {"kegg_shared_pathway", "top_coexpressed"}
    for f in ("sample_embeddings.png", "marker_genes.png", "gene_embedding.png"):
        assert (report / f).stat().st_size > 1000
