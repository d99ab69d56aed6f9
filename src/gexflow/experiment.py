"""What every model stage needs of an experiment: the dataset restricted to named gene sets, the
class labels (one or more sample-sheet columns), and stable per-step seeds."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.io import read_h5ad


def derived_seed(seed: int, *parts) -> int:
    """A stable per-step seed from the config seed and the step's names."""
    h = hashlib.sha256(repr((seed, *parts)).encode()).hexdigest()
    return int(h[:8], 16)


def label_columns(label) -> list[str]:
    """The sample-sheet columns a class label is made of (one name, or a list of names)."""
    return [label] if isinstance(label, str) else list(label)


def class_labels(obs: pd.DataFrame, label) -> np.ndarray:
    """One class per sample: the label columns' values joined by '|'."""
    return obs[label_columns(label)].astype(str).agg("|".join, axis=1).to_numpy()


def check_columns(obs: pd.DataFrame, columns, file, what: str = "experiment covariate") -> None:
    for c in columns:
        if c not in obs.columns:
            raise InputError(file, c, f"{what} is not a sample-sheet column",
                             f"use one of: {', '.join(map(str, obs.columns))}")


def load_genes(h5ad, gene_sets: dict):
    """(X log2 samples x genes, obs, {set name: column indices into X}, var) of a filtered
    dataset restricted to the union of the named gene lists (`{name: genes.tsv}`), in list order."""

    adata = read_h5ad(h5ad)
    order: list[str] = []
    for genes_tsv in gene_sets.values():
        genes = pd.read_csv(genes_tsv, sep="\t", dtype=str)
        missing = genes.loc[~genes["gene_id"].isin(adata.var_names), "gene_id"]
        if len(missing):
            raise InputError(genes_tsv, "gene_id", f"{len(missing)} selected genes are not in {h5ad} "
                             f"(e.g. {', '.join(missing[:3])})", "rerun select_genes on this dataset")
        order += genes["gene_id"].tolist()
    order = list(dict.fromkeys(order))
    pos = {g: i for i, g in enumerate(order)}
    index = {}
    for name, genes_tsv in gene_sets.items():
        ids = pd.read_csv(genes_tsv, sep="\t", dtype=str)["gene_id"]
        index[name] = np.array([pos[g] for g in ids], dtype=int)
    sub = adata[:, order]
    return np.asarray(sub.X, dtype=np.float64), adata.obs.copy(), index, sub.var.copy()


def load_experiment(h5ad, genes_tsv, exp: dict):
    """(X log2 samples x genes, var of the selected genes, obs, class labels) of a generator-style
    experiment: one gene list, a class label and covariates (`label`, `categorical`, `numerical`)."""
    X, obs, _, var = load_genes(h5ad, {"genes": genes_tsv})
    check_columns(obs, [*label_columns(exp["label"]), *exp.get("categorical", []), *exp.get("numerical", [])], h5ad)
    return X, var, obs, class_labels(obs, exp["label"])


def replicate_factor(n_train: int, n_other: int) -> int:
    """How many synthetic samples per held-out sample make as many as the training split has."""
    return max(1, int(round(n_train / max(n_other, 1))))
