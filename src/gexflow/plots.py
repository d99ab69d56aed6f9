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


# --- generators ---------------------------------------------------------------------------------
def _label(m: str) -> str:
    from gexflow.models.registry import display_name

    return display_name(m)


def _write(fig, dest) -> None:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def distance_matrix_figure(real: np.ndarray, synthetic: dict, genes: list[str], dest, *, title: str) -> None:
    """Gene-gene distance matrices (1 - Pearson r) and complete-linkage dendrograms of a few
    genes: real test data beside each model's samples (the WGAN-GP paper's Figures 1 and 3)."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import pdist, squareform

    panels = {"real (test split)": real, **{_label(m): s for m, s in synthetic.items()}}
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.6), squeeze=False)
    for j, (name, X) in enumerate(panels.items()):
        d = pdist(np.asarray(X, dtype=np.float64).T, metric="correlation")
        ax = axes[0, j]
        im = ax.imshow(squareform(d), vmin=0, vmax=2, cmap="viridis")
        ax.set_title(name, fontsize=8)
        ax.set_xticks(range(len(genes)), genes, rotation=90, fontsize=5)
        ax.set_yticks(range(len(genes)), genes if j == 0 else [""] * len(genes), fontsize=5)
        dendrogram(linkage(d, method="complete"), labels=genes, ax=axes[1, j], leaf_font_size=5,
                   color_threshold=0, above_threshold_color="0.3")
        axes[1, j].tick_params(axis="y", labelsize=6)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8, label="1 - Pearson r")
    fig.suptitle(title, fontsize=9)
    _write(fig, dest)


def distribution_figure(real: np.ndarray, synthetic: dict, genes: list[str], dest, *, title: str) -> None:
    """Per-gene histograms: real test samples (grey) against each model's samples."""
    k = len(genes)
    fig, axes = plt.subplots(len(synthetic), k, figsize=(2.0 * k, 1.5 * len(synthetic) + 0.6), squeeze=False)
    for j in range(k):
        lo = min(real[:, j].min(), *(s[:, j].min() for s in synthetic.values()))
        hi = max(real[:, j].max(), *(s[:, j].max() for s in synthetic.values()))
        bins = np.linspace(lo, hi, 25)
        for i, (m, s) in enumerate(synthetic.items()):
            ax = axes[i, j]
            ax.hist(real[:, j], bins=bins, density=True, color="0.6", alpha=0.7, label="real test")
            ax.hist(s[:, j], bins=bins, density=True, histtype="step", color=f"C{i}", lw=1.4, label=_label(m))
            ax.tick_params(labelsize=5)
            if i == 0:
                ax.set_title(genes[j], fontsize=7)
            if j == 0:
                ax.set_ylabel(_label(m), fontsize=7)
    axes[-1, 0].set_xlabel("log2(x+1)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)


def pca_overlay_figure(train: np.ndarray, real: np.ndarray, synthetic: dict, dest, *, title: str) -> None:
    """Real test and synthetic samples in the first two principal components of the real training data."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(train)
    r = pca.transform(real)
    n = len(synthetic)
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.0), squeeze=False, sharex=True, sharey=True)
    for i, (m, s) in enumerate(synthetic.items()):
        ax = axes[0, i]
        p = pca.transform(s)
        ax.scatter(p[:, 0], p[:, 1], s=5, color=f"C{i}", alpha=0.5, label="synthetic")
        ax.scatter(r[:, 0], r[:, 1], s=7, color="k", marker="x", lw=0.6, label="real test")
        ax.set_title(_label(m), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"PC1 ({pca.explained_variance_ratio_[0]:.0%})", fontsize=7)
    axes[0, 0].set_ylabel(f"PC2 ({pca.explained_variance_ratio_[1]:.0%})", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)


def training_curves_figure(curves: dict, dest, *, title: str) -> None:
    """Losses and the validation metric (the curve's `val_<metric>` column) per epoch of every
    model with a training curve."""
    curves = {m: c for m, c in curves.items() if len(c)}
    n = max(1, len(curves))
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.0), squeeze=False)
    for i, (m, c) in enumerate(curves.items()):
        ax = axes[0, i]
        val = next((c_ for c_ in c.columns if c_.startswith("val_")), None)
        for col in [c_ for c_ in c.columns if c_ not in ("epoch", val, "beta", "decoder_sd_mean")]:
            ax.plot(c["epoch"], c[col], lw=0.8, label=col)
        ax.set_title(_label(m), fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, loc="upper left")
        if val is not None and c[val].notna().any():
            v = c.dropna(subset=[val])
            ax2 = ax.twinx()
            ax2.plot(v["epoch"], v[val], "k.-", lw=1, ms=3)
            ax2.set_ylabel(f"validation {val[4:]}", fontsize=7)
            ax2.tick_params(labelsize=6)
    if not curves:
        axes[0, 0].text(0.5, 0.5, "no model in this experiment records a training curve", ha="center")
        axes[0, 0].axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)
