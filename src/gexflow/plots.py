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
