"""Figures for the report. Matplotlib with the non-interactive Agg backend; atomic writes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gexflow.io import atomic_path  # noqa: E402


def filter_qc_figure(kept: np.ndarray, dropped: np.ndarray, steps: pd.DataFrame, dest, *, title: str,
                     xlabel: str, threshold: float | None = None) -> None:
    """Left: distribution of a per-gene (or per-cell) statistic, kept vs dropped. Right: counts per step."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    values = np.concatenate([kept, dropped]) if len(dropped) else kept
    bins = np.histogram_bin_edges(values, bins=50)
    a.hist(kept, bins=bins, color="#3b75af", label=f"kept ({len(kept)})")
    if len(dropped):
        a.hist(dropped, bins=bins, color="#c44e52", alpha=0.8, label=f"dropped ({len(dropped)})")
    if threshold is not None:
        a.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    a.set_xlabel(xlabel)
    a.set_ylabel("count")
    a.legend(frameon=False, fontsize=8)
    x = np.arange(len(steps))
    b.bar(x - 0.2, steps["samples"], width=0.4, label="samples", color="#55a868")
    b.bar(x + 0.2, steps["genes"], width=0.4, label="genes", color="#8172b2")
    b.set_xticks(x, steps["step"], rotation=20, ha="right", fontsize=8)
    b.set_yscale("log")
    b.legend(frameon=False, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def volcano_figure(table: pd.DataFrame, dest, *, p_column: str, alpha: float, log2fc_threshold: float, title: str,
                   top_n: int = 15) -> None:
    """log2 FC vs -log10 raw p; colour by criterion; the significance line is where the adjusted
    p crosses alpha; the top genes by adjusted p among the final DEGs are labelled."""
    fc = table["log2fc"].to_numpy(dtype=float)
    finite = np.isfinite(fc)
    lim = np.nanmax(np.abs(fc[finite])) if finite.any() else 1.0
    fc_plot = np.clip(np.where(finite, fc, np.sign(fc) * lim * 1.05), -lim * 1.05, lim * 1.05)
    y = -np.log10(np.clip(table["pvalue"].to_numpy(dtype=float), 1e-300, 1))
    fig, ax = plt.subplots(figsize=(7, 5.5))
    groups = [(~table["deg_test"] & ~table["deg_fold_change"], "#b0b0b0", "neither"),
              (table["deg_test"] & ~table["deg_fold_change"], "#8fb3d9", "test only"),
              (~table["deg_test"] & table["deg_fold_change"], "#e5b17a", "fold change only"),
              (table["deg"], "#c44e52", f"DEG ({int(table['deg'].sum())})")]
    for mask, colour, label in groups:
        m = mask.to_numpy()
        ax.scatter(fc_plot[m], y[m], s=6, c=colour, label=label if "DEG" in label else f"{label} ({m.sum()})",
                   linewidths=0, rasterized=True)
    sig = table.loc[table[p_column] <= alpha, "pvalue"]
    if len(sig):
        ax.axhline(-np.log10(sig.max()), color="k", ls="--", lw=0.8)
    for x in (-log2fc_threshold, log2fc_threshold):
        ax.axvline(x, color="k", ls=":", lw=0.8)
    # Many genes can share the smallest exact p (2 / 2**n): break ties by effect size, and skip a
    # candidate whose point sits too close to one already labelled so the labels stay legible.
    order = table[table["deg"]].assign(_abs_fc=lambda t: t["log2fc"].abs()).sort_values(
        [p_column, "pvalue", "_abs_fc"], ascending=[True, True, False]).index
    xspan, yspan = (np.ptp(fc_plot) or 1.0), (np.ptp(y) or 1.0)
    placed = []
    for i in order:
        if len(placed) >= top_n:
            break
        j = table.index.get_loc(i)
        if any(abs(fc_plot[j] - fc_plot[k]) < 0.07 * xspan and abs(y[j] - y[k]) < 0.05 * yspan for k in placed):
            continue
        placed.append(j)
        ax.annotate(table.at[i, "symbol"], (fc_plot[j], y[j]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("log2 fold change (tumour / normal, linear-scale means)")
    ax.set_ylabel("-log10 p")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, markerscale=2)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)
