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
    name_a, name_b = deg.group_names(ds, params)
    description = (f"{name_a} vs {name_b}" if (name_a, name_b) == ("tumour", "normal") else
                   f"{group_a} vs {group_b} ({column})")
    usage_rows, usage_text = deg.usage_summary(design)
    log.info("%s: %s: %s (%s vs %s in %s; method %s)", name, description, design.note, group_a, group_b, column,
             method)
    log.info("%s: %s", name, usage_text)
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
    up, down = int((table["deg"] & (table["log2fc"] > 0)).sum()), int((table["deg"] & (table["log2fc"] < 0)).sum())
    summary = pd.DataFrame([
        ("design", design.kind), ("design_note", design.note), ("description", description), ("method", method),
        ("contrast_column", column), ("group_a", group_a), ("group_b", group_b), ("matched_pairs", design.n_pairs),
        ("n_group_a", len(design.tumour)), ("n_group_b", len(design.normal)), *usage_rows,
        ("genes_tested", len(table)),
        ("correction", params["correction"]), ("alpha", params["alpha"]),
        ("log2fc_threshold", params["log2fc_threshold"]), ("pseudo_count", params.get("pseudo_count", "auto")),
        ("deg_test", int(table["deg_test"].sum())), ("deg_fold_change", int(table["deg_fold_change"].sum())),
        ("deg_both", int(table["deg"].sum())),
        ("deg_up_in_group_a", up), ("deg_down_in_group_a", down),
        ("deg_direction", f"{up} up in {name_a}, {down} up in {name_b}"),
        ("tests_exact", int(counts.get("exact", 0))),
        ("tests_asymptotic", int(counts.get("asymptotic", 0))),
        ("tests_permutation", int(counts.get("permutation", 0))),
        ("genes_constant_p1", int(counts.get("constant", 0))),
    ], columns=["item", "value"])
    na = {k.removeprefix("deseq2_na_"): int(v) for k, v in counts.items() if str(k).startswith("deseq2_na")}
    if method == "deseq2":
        summary.loc[len(summary)] = ("na_pvalue", sum(na.values()))
        for reason, n in na.items():
            summary.loc[len(summary)] = (f"na_pvalue_{reason}", n)
        if na:
            detail = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in na.items())
            log.info("%s: DESeq2 gave no p-value for %d of %d genes (%s): counted as p = 1, never DEGs", name,
                     sum(na.values()), len(table), detail)
    check = deg.floor_check(design, table, params)
    warning = check["message"] if check else None
    if check:
        summary.loc[len(summary)] = ("p_floor", check["floor"])
        summary.loc[len(summary)] = ("p_floor_ties", check["floor_ties"])
        summary.loc[len(summary)] = ("p_floor_best_adjusted", check["best_adjusted"])
        summary.loc[len(summary)] = ("p_floor_reachable", check["reachable"])
    if warning:
        log.warning("%s: %s", name, warning)
        summary.loc[len(summary)] = ("warning", warning)
    if not table["deg"].any():
        log.warning("%s: the DEG set is empty (%d pass the test, %d the fold change); gene selections that need "
                    "DEGs will stop: loosen deg.alpha / deg.log2fc_threshold", name,
                    int(table["deg_test"].sum()), int(table["deg_fold_change"].sum()))
        summary.loc[len(summary)] = ("note", "empty DEG set: loosen deg.alpha or deg.log2fc_threshold")
    title = (f"{name}: {description}; {design.note}\n{int(table['deg'].sum())} DEGs ({params['correction']} p <= "
             f"{params['alpha']:g} and |log2 FC| >= {params['log2fc_threshold']:g}; + = higher in {name_a})")
    if warning:
        title += (f"\nWARNING: no gene can pass: smallest possible p {check['floor']:.3g}, best "
                  f"{params['correction']} p {check['best_adjusted']:.3g} > alpha {params['alpha']:g}")
    volcano_figure(table, job.output["volcano"], p_column=p_col, alpha=params["alpha"],
                   log2fc_threshold=params["log2fc_threshold"], top_n=params["volcano_labels"], title=title,
                   group_names=(name_a, name_b), note=warning)
    write_tsv(table, job.output["table"])
    write_tsv(summary, job.output["summary"])
