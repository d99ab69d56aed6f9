"""Stage call_degs: the contrast's design (paired or unpaired), the test (Wilcoxon as in the
WGAN-GP paper, Welch's t-test, or DESeq2 on counts), corrections, fold change, the DEG table,
its summary with small-sample warnings, and the volcano plot."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.io import read_h5ad, write_tsv

log = logging.getLogger("gexflow.stages.deg")


def call_degs(job) -> None:
    """Rule call_degs: degs.tsv, summary.tsv, volcano.png of one dataset. The DEG settings are the
    `deg` section with the dataset's `deg` overrides."""
    from gexflow import deg
    from gexflow.plots import volcano_figure

    h5ad, name = job.input["h5ad"], job.wildcards["dataset"]
    ds, params = job.params["job"]["dataset"], job.params["job"]["deg"]
    adata = read_h5ad(h5ad)
    column, group_a, group_b = deg.contrast_of(ds, params)
    method = params.get("method", "wilcoxon")
    design = deg.choose_design(adata.obs, condition_column=column, patient_column=ds.get("patient_column"),
                               tumour_label=group_a, normal_label=group_b, design=params["design"],
                               min_pairs=params["min_pairs"], min_samples_per_group=params["min_samples_per_group"],
                               file=h5ad)
    test_names = {"welch": ("paired t-test", "Welch t-test"), "deseq2": ("DESeq2 Wald test (~pair + group)",
                                                                           "DESeq2 Wald test (~group)")}
    if method in test_names:  # the design note names the rank test; say which test runs instead
        paired_name, unpaired_name = test_names[method]
        design.note = design.note.replace("Wilcoxon signed-rank", paired_name).replace("Wilcoxon rank-sum",
                                                                                       unpaired_name)
    log.info("%s: %s (%s vs %s in %s; method %s)", name, design.note, group_a, group_b, column, method)
    common = dict(alpha=params["alpha"], correction=params["correction"], log2fc_threshold=params["log2fc_threshold"])
    if method == "deseq2":
        if "counts" not in adata.layers:
            raise InputError(h5ad, "deg.method", f"DESeq2 needs raw counts, but dataset {name} has "
                             f"`scale: {ds.get('scale')}`", "use `deg.method: welch` or `wilcoxon` for this dataset, "
                             "or give it its raw count matrix with `scale: counts`")
        table = deg.deseq2(np.asarray(adata.layers["counts"]), adata.var, adata.obs, design, column=column,
                           groups=(group_a, group_b), **common)
    else:
        table = deg.call_degs(adata.X, adata.var, design, method=method,
                              pseudo_count=params.get("pseudo_count", "auto"),
                              centred=adata.uns.get("gexflow", {}).get("input_scale") == "log2_centred", **common)
    p_col = "p_bonferroni" if params["correction"] == "bonferroni" else "p_bh"
    counts = table["test_method"].value_counts()
    summary = pd.DataFrame([
        ("design", design.kind), ("design_note", design.note), ("method", method), ("contrast_column", column),
        ("group_a", group_a), ("group_b", group_b), ("matched_pairs", design.n_pairs),
        ("n_tumour", len(design.tumour)), ("n_normal", len(design.normal)), ("genes_tested", len(table)),
        ("correction", params["correction"]), ("alpha", params["alpha"]),
        ("log2fc_threshold", params["log2fc_threshold"]), ("pseudo_count", params.get("pseudo_count", "auto")),
        ("deg_test", int(table["deg_test"].sum())), ("deg_fold_change", int(table["deg_fold_change"].sum())),
        ("deg_both", int(table["deg"].sum())),
        ("deg_up_in_tumour", int((table["deg"] & (table["log2fc"] > 0)).sum())),
        ("deg_down_in_tumour", int((table["deg"] & (table["log2fc"] < 0)).sum())),
        ("tests_exact", int(counts.get("exact", 0))),
        ("tests_asymptotic", int(counts.get("asymptotic", 0))),
        ("tests_permutation", int(counts.get("permutation", 0))),
        ("genes_constant_p1", int(counts.get("constant", 0))),
    ], columns=["item", "value"])
    warning = deg.floor_warning(design, table, params)
    if warning:
        log.warning("%s: %s", name, warning)
        summary.loc[len(summary)] = ("warning", warning)
    if not table["deg"].any():
        log.warning("%s: the DEG set is empty (%d pass the test, %d the fold change); gene selections that need "
                    "DEGs will stop: loosen deg.alpha / deg.log2fc_threshold", name,
                    int(table["deg_test"].sum()), int(table["deg_fold_change"].sum()))
        summary.loc[len(summary)] = ("note", "empty DEG set: loosen deg.alpha or deg.log2fc_threshold")
    title = (f"{name}: {design.note}\n{int(table['deg'].sum())} DEGs ({params['correction']} p <= {params['alpha']:g} "
             f"and |log2 FC| >= {params['log2fc_threshold']:g}; + = higher in {group_a})")
    if warning:
        title += "\nWARNING: the design's smallest possible p cannot pass the correction"
    volcano_figure(table, job.output["volcano"], p_column=p_col, alpha=params["alpha"],
                   log2fc_threshold=params["log2fc_threshold"], top_n=params["volcano_labels"], title=title)
    write_tsv(table, job.output["table"])
    write_tsv(summary, job.output["summary"])
