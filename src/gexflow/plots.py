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
                   top_n: int = 15, group_names: tuple[str, str] = ("tumour", "normal"),
                   note: str | None = None) -> None:
    """log2 FC vs -log10 raw p; colour by criterion; the significance line is where the adjusted
    p crosses alpha; the top genes by adjusted p among the final DEGs are labelled. `group_names`:
    the contrast's groups (a / b) as the axis names them; `note`: a warning written in the plot."""
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
    a, b = group_names
    ax.set_xlabel(f"log2 fold change ({a} / {b}, linear-scale means); + = up in {a}, - = up in {b}")
    if note:
        import textwrap

        ax.text(0.5, 0.98, "\n".join(textwrap.wrap(note, 90)), transform=ax.transAxes, ha="center", va="top",
                fontsize=6.5, color="#a02020", bbox=dict(facecolor="white", alpha=0.85, edgecolor="#a02020", lw=0.5))
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
    # wide enough for one label per leaf: leaf labels of 12 genes overlapped in 2.6-inch panels
    width = max(2.6, 0.24 * len(genes) + 0.6)
    fig, axes = plt.subplots(2, n, figsize=(width * n, 6.2), squeeze=False)
    for j, (name, X) in enumerate(panels.items()):
        with np.errstate(invalid="ignore", divide="ignore"):  # a gene constant in X: distance undefined, drawn as 1
            d = np.nan_to_num(pdist(np.asarray(X, dtype=np.float64).T, metric="correlation"), nan=1.0)
        ax = axes[0, j]
        im = ax.imshow(squareform(d), vmin=0, vmax=2, cmap="viridis")
        ax.set_title(name, fontsize=8)
        ax.set_xticks(range(len(genes)), genes, rotation=90, fontsize=5)
        ax.set_yticks(range(len(genes)), genes if j == 0 else [""] * len(genes), fontsize=5)
        dendrogram(linkage(d, method="complete"), labels=genes, ax=axes[1, j], leaf_font_size=6, leaf_rotation=90,
                   color_threshold=0, above_threshold_color="0.3")
        axes[1, j].tick_params(axis="y", labelsize=6)
    fig.subplots_adjust(bottom=0.2, hspace=0.6)  # room for vertical gene labels, before the colour bar
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8, label="1 - Pearson r")
    fig.suptitle(title, fontsize=9)
    _write(fig, dest)


def prdc_utility_figure(summary: pd.DataFrame, models: list[str], sizes: list[int], dest, *, title: str) -> None:
    """Precision, recall, density and coverage per model (mean +- SD over folds), and the
    augmentation utility: balanced accuracy on the real test fold of a classifier trained on n real
    training samples with each model's synthetic samples added (dashed: the real samples alone)."""
    def stat(m, metric):
        r = summary[(summary.model == m) & (summary.metric == metric)]
        return (float(r["mean"].iloc[0]), float(r["sd"].iloc[0])) if len(r) else (np.nan, np.nan)

    fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
    x = np.arange(len(models))
    for ax, metric in zip(axes[:4], ("precision", "recall", "density", "coverage")):
        vals = [stat(m, metric) for m in models]
        ax.bar(x, [v[0] for v in vals], yerr=[0 if not np.isfinite(v[1]) else v[1] for v in vals], color="0.55")
        ax.set_xticks(x, [_label(m) for m in models], rotation=60, ha="right", fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.axhline(1.0, color="0.8", lw=0.8, zorder=0)
    ax = axes[4]
    for m in models:
        ys = [stat(m, f"augmented_{n}")[0] for n in sizes]
        ax.plot(sizes, ys, marker="o", label=_label(m), lw=1)
    if models:
        ax.plot(sizes, [stat(models[0], f"real_{n}")[0] for n in sizes], "k--", marker="x", label="real only")
    ax.set_xlabel("real training samples", fontsize=8)
    ax.set_ylabel("balanced accuracy (test fold)", fontsize=8)
    ax.set_title("augmentation utility", fontsize=9)
    ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
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

    pca = PCA(n_components=2, svd_solver="full").fit(train)  # exact: the same figure every run
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


# --- landmark inference ------------------------------------------------------------------------
def _mae_by_model(per_gene: pd.DataFrame) -> dict:
    """{'model (landmark set)': per-gene z-scale MAE Series indexed by gene} of one fold."""
    out = {}
    for (m, s), d in per_gene.groupby(["model", "landmark_set"], sort=False):
        out[(m, s)] = d.set_index("gene_id")["mae_z"]
    return out


def inference_mae_scatter(per_gene: pd.DataFrame, dest, *, title: str) -> None:
    """Per-gene test MAE of each MLP (rows; y) against linear regression and against ridge
    (columns; x), one point per target gene; below the diagonal = the MLP is better on that gene."""
    mae = _mae_by_model(per_gene)
    lmset = "landmarks"
    ys = [(m, lmset) for m in ("dgex_mlp", "dgex_residual") if (m, lmset) in mae] or [next(iter(mae))]
    refs = [r for r in (("linear", lmset), ("ridge", lmset)) if r in mae] or [ys[0]]
    fig, axes = plt.subplots(len(ys), len(refs), figsize=(4.2 * len(refs), 4.0 * len(ys)), squeeze=False)
    for row, y_key in enumerate(ys):
        for ax, ref in zip(axes[row], refs):
            a, b = mae[ref].align(mae[y_key], join="inner")
            lim = float(max(a.max(), b.max()) * 1.05) if len(a) else 1.0
            ax.scatter(a, b, s=3, alpha=0.4, color="#3b75af", rasterized=True)
            ax.plot([0, lim], [0, lim], "k--", lw=0.8)
            ax.set_xlim(0, lim)
            ax.set_ylim(0, lim)
            better = float(np.mean(b.to_numpy() < a.to_numpy())) if len(a) else float("nan")
            ax.set_xlabel(f"{_label(ref[0])}: per-gene MAE (z)", fontsize=8)
            ax.set_ylabel(f"{_label(y_key[0])}: per-gene MAE (z)", fontsize=8)
            ax.set_title(f"{_label(y_key[0])} better on {better:.1%} of {len(a)} genes", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)


def inference_error_distribution(per_gene: pd.DataFrame, dest, *, title: str) -> None:
    """Distribution of per-gene test MAE (z-scale) for every model and landmark set."""
    mae = _mae_by_model(per_gene)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    allv = np.concatenate([v.to_numpy() for v in mae.values()]) if mae else np.array([0.0, 1.0])
    bins = np.histogram_bin_edges(allv[np.isfinite(allv)], bins=60)
    for (m, s), v in mae.items():
        ax.hist(v, bins=bins, histtype="step", lw=1.2, label=f"{_label(m)} ({s}): mean {v.mean():.3f}")
    ax.set_xlabel("per-gene test MAE (z-scale)")
    ax.set_ylabel("target genes")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)


def landmark_overlap_figure(overlap: pd.DataFrame, long: pd.DataFrame, dest, *, title: str) -> None:
    """Left: learned vs landmark set sizes and their overlap per fold. Right: test MAE of every
    model on the landmark set and on the learned set (same targets)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    if len(overlap):
        x = np.arange(len(overlap))
        a.bar(x - 0.25, overlap["landmarks"], width=0.25, label="landmark set", color="#55a868")
        a.bar(x, overlap["learned"], width=0.25, label="learned", color="#3b75af")
        a.bar(x + 0.25, overlap["shared"], width=0.25, label="in both", color="#c44e52")
        a.set_xticks(x, [f"fold {f}" for f in overlap["fold"]])
        a.set_ylabel("genes")
        a.legend(fontsize=7, frameon=True, loc="lower right")
        g = long.groupby(["model", "landmark_set"], sort=False)["mae_z"].mean().unstack()
        g.plot.bar(ax=b, rot=0, color={"landmarks": "#55a868", "learned": "#3b75af"})
        b.set_ylabel("test MAE (z), mean over folds")
        b.set_xlabel("")
        b.legend(fontsize=7, frameon=True, loc="lower right")
    else:
        for ax in (a, b):
            ax.text(0.5, 0.5, "this experiment does not learn landmarks\n(infer.experiments.*.learned_landmarks)",
                    ha="center", va="center", fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _write(fig, dest)


# --- embeddings ---------------------------------------------------------------------------------
def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _colours(labels) -> tuple[list, dict]:
    cats = sorted(set(labels))
    cmap = plt.get_cmap("tab20" if len(cats) > 10 else "tab10")
    lut = {c: cmap(i % cmap.N) for i, c in enumerate(cats)}
    return [lut[v] for v in labels], lut


def embedding_panels_figure(coords: pd.DataFrame, label_of: dict, dest, *, title: str) -> None:
    """One panel per method (first two dimensions), every sample coloured by its class; held-out
    samples drawn as crosses (the paper's Figure 2 with the held-out samples marked)."""
    methods = list(dict.fromkeys(coords["method"]))
    n = len(methods)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.1 * n + 2.4, 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * n + [0.75]})
    lut = {}
    for ax, m in zip(axes[0], methods):
        c = coords[coords["method"] == m]
        cols, lut = _colours([label_of[s] for s in c["sample_id"]])
        held = (c["role"] != "train").to_numpy()
        cols = np.array(cols, dtype=object)
        ax.scatter(c["dim1"][~held], c["dim2"][~held], c=list(cols[~held]), s=5, linewidths=0)
        ax.scatter(c["dim1"][held], c["dim2"][held], c=list(cols[held]), s=9, marker="x", linewidths=0.6)
        ax.set_title({"factorized": "factorized embedding"}.get(m, m), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    leg = axes[0][-1]
    leg.axis("off")
    if len(lut) <= 40:
        handles = [plt.Line2D([], [], marker="o", ls="", color=v, markersize=4) for v in lut.values()]
        leg.legend(handles, list(lut), fontsize=5.5, frameon=False, ncol=1 if len(lut) <= 20 else 2, loc="center")
    fig.suptitle(_wrap(title + "  (x: held-out samples)", 160), fontsize=8)
    fig.tight_layout()
    _write(fig, dest)


def marker_embedding_figure(xy: np.ndarray, markers: dict, dest, *, title: str) -> None:
    """The sample embedding coloured by each marker gene's expression (the paper's KRT, MYH6,
    CD8B, XIST panels)."""
    n = max(1, len(markers))
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, values) in zip(axes.flat, markers.items()):
        ax.axis("on")
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=4, cmap="viridis", linewidths=0)
        fig.colorbar(sc, ax=ax, shrink=0.7)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(_wrap(title, 90), fontsize=8)
    fig.tight_layout()
    _write(fig, dest)


def gene_embedding_figure(G: np.ndarray, groups: dict, dest, *, title: str) -> None:
    """Genes in embedding space (PCA to 2-D when larger), the members of a few KEGG pathways
    highlighted over the other genes in grey."""
    xy = G[:, :2] if G.shape[1] <= 2 else (G - G.mean(0)) @ np.linalg.svd(G - G.mean(0), full_matrices=False)[2][:2].T
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    ax.scatter(xy[:, 0], xy[:, 1], s=3, c="#cccccc", linewidths=0, label="other genes")
    palette = plt.get_cmap("tab10")
    for i, (name, idx) in enumerate(groups.items()):
        if len(idx):
            ax.scatter(xy[idx, 0], xy[idx, 1], s=10, color=palette(i % 10), linewidths=0,
                       label=f"{name} ({len(idx)})")
    ax.legend(fontsize=6, frameon=False, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(_wrap(title, 80), fontsize=8)
    fig.tight_layout()
    _write(fig, dest)


def generator_figures(X, split, classes, synthetic: dict, syn_classes: dict, symbols, summary: pd.DataFrame,
                      curves: dict, outputs: dict, *, exp_name: str, note: str, figure_genes: int,
                      n_folds: int) -> None:
    """Every figure of a generator comparison, drawn from fold 0: distance matrices of the most
    variable genes (overall and within the largest class), distributions, PCA overlay, PRDC and
    utility, training curves. `synthetic` / `syn_classes`: model -> fold-0 samples / their classes."""
    from gexflow.models.registry import CEILING

    train, _val, test = split
    models = list(synthetic)
    order = np.argsort(-X[train].var(axis=0), kind="stable")
    top = np.sort(order[:min(figure_genes, X.shape[1])])
    six = order[:min(6, X.shape[1])]
    suffix = f" — {note}" if note else ""

    def mean_of(model, metric):
        r = summary[(summary.model == model) & (summary.metric == metric)]["mean"]
        return float(r.iloc[0]) if len(r) else float("nan")

    distance_matrix_figure(X[test][:, top], {m: s[:, top] for m, s in synthetic.items()}, [symbols[i] for i in top],
                           outputs["distances"], title=f"{exp_name}, fold 0: {len(top)} most variable genes; "
                           f"real-vs-real gamma ceiling {mean_of(CEILING, 'gamma'):.3f}{suffix}")
    distribution_figure(X[test][:, six], {m: s[:, six] for m, s in synthetic.items()}, [symbols[i] for i in six],
                        outputs["distributions"], title=f"{exp_name}, fold 0: test samples vs synthetic{suffix}")
    pca_overlay_figure(X[train], X[test], synthetic, outputs["pca"],
                       title=f"{exp_name}, fold 0: PCA of the real training split{suffix}")
    big = pd.Series(classes[test]).value_counts().index[0]  # the largest class of the test fold
    in_test, in_train = test[classes[test] == big], train[classes[train] == big]
    within = np.sort(np.argsort(-X[in_train].var(axis=0), kind="stable")[:min(figure_genes, X.shape[1])])
    syn_within = {m: s[syn_classes[m] == big][:, within] for m, s in synthetic.items()}
    distance_matrix_figure(X[in_test][:, within], syn_within, [symbols[i] for i in within], outputs["within_distances"],
                           title=f"{exp_name}, fold 0, within class {big} ({len(in_test)} test samples): "
                           f"{len(within)} most variable genes in the class; within-class gamma ceiling "
                           f"{mean_of(CEILING, 'within_gamma'):.3f}{suffix}")
    sizes = sorted(int(m.split("_")[1]) for m in summary["metric"].unique() if m.startswith("utility_"))
    prdc_utility_figure(summary, [CEILING, *models], sizes, outputs["prdc_utility"],
                        title=f"{exp_name}: PRDC (PCA of the real training split) and augmentation utility, "
                        f"mean over {n_folds} folds{suffix}")
    training_curves_figure(curves, outputs["curves"], title=f"{exp_name}, fold 0: training curves (validation "
                           "within-class gamma selects the checkpoint)")
