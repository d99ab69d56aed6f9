"""Stage call_degs: tumour vs normal design, the vectorised Wilcoxon test, corrections, fold
change, the DEG table, its summary and the volcano plot."""

from __future__ import annotations

import logging

import pandas as pd

from gexflow.io import read_h5ad, write_tsv

log = logging.getLogger("gexflow.stages.deg")


def call_degs_stage(h5ad, ds: dict, params: dict, *, table_out, summary_out, volcano_out, name: str) -> None:
    """design choice, vectorised test, corrections, fold change, table + plot."""

    from gexflow import deg
    from gexflow.plots import volcano_figure

    adata = read_h5ad(h5ad)
    design = deg.choose_design(adata.obs, condition_column=ds.get("condition_column") or "condition",
                               patient_column=ds.get("patient_column"), tumour_label=params["tumour_label"],
                               normal_label=params["normal_label"], design=params["design"],
                               min_pairs=params["min_pairs"], min_samples_per_group=params["min_samples_per_group"],
                               file=h5ad)
    log.info("%s: %s", name, design.note)
    table = deg.call_degs(adata.X, adata.var, design, alpha=params["alpha"], correction=params["correction"],
                          log2fc_threshold=params["log2fc_threshold"])
    p_col = "p_bonferroni" if params["correction"] == "bonferroni" else "p_bh"
    summary = pd.DataFrame([
        ("design", design.kind), ("design_note", design.note), ("matched_pairs", design.n_pairs),
        ("n_tumour", len(design.tumour)), ("n_normal", len(design.normal)), ("genes_tested", len(table)),
        ("correction", params["correction"]), ("alpha", params["alpha"]),
        ("log2fc_threshold", params["log2fc_threshold"]),
        ("deg_test", int(table["deg_test"].sum())), ("deg_fold_change", int(table["deg_fold_change"].sum())),
        ("deg_both", int(table["deg"].sum())),
        ("deg_up_in_tumour", int((table["deg"] & (table["log2fc"] > 0)).sum())),
        ("deg_down_in_tumour", int((table["deg"] & (table["log2fc"] < 0)).sum())),
        ("tests_exact", int((table["test_method"] == "exact").sum())),
        ("tests_asymptotic", int((table["test_method"] == "asymptotic").sum())),
        ("tests_permutation", int((table["test_method"] == "permutation").sum())),
        ("genes_constant_p1", int((table["test_method"] == "constant").sum())),
    ], columns=["item", "value"])
    if not table["deg"].any():
        log.warning("%s: the DEG set is empty (%d pass the test, %d the fold change); gene selections that need "
                    "DEGs will stop: loosen deg.alpha / deg.log2fc_threshold", name,
                    int(table["deg_test"].sum()), int(table["deg_fold_change"].sum()))
        summary.loc[len(summary)] = ("note", "empty DEG set: loosen deg.alpha or deg.log2fc_threshold")
    volcano_figure(table, volcano_out, p_column=p_col, alpha=params["alpha"],
                   log2fc_threshold=params["log2fc_threshold"], top_n=params["volcano_labels"],
                   title=f"{name}: {design.note}\n{int(table['deg'].sum())} DEGs ({params['correction']} "
                         f"p <= {params['alpha']:g} and |log2 FC| >= {params['log2fc_threshold']:g})")
    write_tsv(table, table_out)
    write_tsv(summary, summary_out)
