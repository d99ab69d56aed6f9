"""Scores of landmark -> target inference on held-out samples, identical for every model: per-gene
MAE and MSE on the z-scale (z-scores fitted on the training split) and on log2(x + 1), per-gene
Pearson r, and the comparisons against linear regression (share of target genes on which a model
has the lower MAE, relative improvement of the mean MAE)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pearson_per_gene(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson r of every column of A with the same column of B (NaN where either is constant)."""
    a = A - A.mean(axis=0)
    b = B - B.mean(axis=0)
    den = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / den
    return np.where(den > 0, r, np.nan)


def per_gene_metrics(true_z: np.ndarray, pred_z: np.ndarray, true_log2: np.ndarray, pred_log2: np.ndarray,
                     genes) -> pd.DataFrame:
    """One row per target gene: mae_z, mse_z, mae_log2, mse_log2, pearson_r (on log2; r is
    scale-free, so the same on z)."""
    return pd.DataFrame({
        "gene_id": list(genes),
        "mae_z": np.abs(pred_z - true_z).mean(axis=0),
        "mse_z": ((pred_z - true_z) ** 2).mean(axis=0),
        "mae_log2": np.abs(pred_log2 - true_log2).mean(axis=0),
        "mse_log2": ((pred_log2 - true_log2) ** 2).mean(axis=0),
        "pearson_r": pearson_per_gene(true_log2, pred_log2),
    })


def share_better(mae_model: np.ndarray, mae_reference: np.ndarray) -> float:
    """Fraction of genes on which the model's MAE is strictly lower than the reference's."""
    mae_model, mae_reference = np.asarray(mae_model), np.asarray(mae_reference)
    return float(np.mean(mae_model < mae_reference)) if len(mae_model) else np.nan


def relative_improvement(mae_model: float, mae_reference: float) -> float:
    """1 - model / reference of the mean MAE: 0.15 = 15 % lower error than the reference."""
    return float(1.0 - mae_model / mae_reference) if mae_reference > 0 else np.nan


SUMMARY_METRICS = ("mae_z", "mse_z", "mae_log2", "mse_log2", "pearson_r")


def fold_summary(per_gene: pd.DataFrame) -> dict:
    """Mean over genes of every per-gene metric, and the SD across genes of the z-scale MAE."""
    out = {m: float(per_gene[m].mean()) for m in SUMMARY_METRICS}
    out["mae_z_gene_sd"] = float(per_gene["mae_z"].std(ddof=1)) if len(per_gene) > 1 else np.nan
    out["n_genes"] = int(len(per_gene))
    return out
