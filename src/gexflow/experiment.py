"""What every model stage needs of an experiment: the one loader of a filtered dataset (through
`io.read_h5ad` and its integrity check), restricted to named gene lists, the class labels (one or
more sample-sheet columns), and stable per-step seeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.io import read_h5ad, read_intermediate


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


def experiment_labels(exp: dict) -> dict:
    """name -> class column(s) an embedding experiment's classifier protocol scores (default: its
    split label)."""
    if exp.get("labels"):
        return dict(exp["labels"])
    return {"_x_".join(label_columns(exp["label"])): exp["label"]}


def check_columns(obs: pd.DataFrame, columns, file, what: str = "experiment covariate") -> None:
    for c in columns:
        if c not in obs.columns:
            raise InputError(file, c, f"{what} is not a sample-sheet column",
                             f"use one of: {', '.join(map(str, obs.columns))}")


@dataclass
class Dataset:
    """A filtered dataset as the model stages use it: X (samples x genes, log2(x+1), float64),
    obs (the sample sheet's columns) and var (gene ids as index; `symbol` always present)."""

    X: np.ndarray
    obs: pd.DataFrame
    var: pd.DataFrame

    @property
    def gene_ids(self) -> np.ndarray:
        return self.var.index.astype(str).to_numpy()

    @property
    def symbols(self) -> np.ndarray:
        """Each gene's symbol, or its id where it has none."""
        s = self.var["symbol"].astype(str).to_numpy()
        return np.where(s != "", s, self.gene_ids)


def read_gene_list(genes_tsv) -> pd.Series:
    """The gene ids of a gene list another job wrote (a select set, learned landmarks)."""
    genes = read_intermediate(genes_tsv, dtype=str, keep_default_na=False)
    if "gene_id" not in genes.columns:
        raise InputError(genes_tsv, "gene_id", "column missing", "rebuild it with the rule that wrote it")
    return genes["gene_id"]


def load_dataset(h5ad, gene_lists: dict | None = None) -> tuple[Dataset, dict]:
    """The one loader of the model stages: a filtered dataset, with every gene or restricted to the
    union of the named gene lists (`{name: genes.tsv}`, in list order). Returns the dataset and,
    per list, the column indices of its genes."""
    adata = read_h5ad(h5ad)
    var = adata.var.copy()
    if "symbol" not in var.columns:
        var["symbol"] = var.index.astype(str)
    matrix = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    if not gene_lists:
        return Dataset(np.asarray(matrix, dtype=np.float64), adata.obs.copy(), var), {}
    lists = {name: read_gene_list(f) for name, f in gene_lists.items()}
    for name, ids in lists.items():
        missing = ids[~ids.isin(adata.var_names)]
        if len(missing):
            raise InputError(gene_lists[name], "gene_id", f"{len(missing)} selected genes are not in {h5ad} "
                             f"(e.g. {', '.join(missing[:3])})", "rerun select_genes on this dataset")
    order = list(dict.fromkeys(g for ids in lists.values() for g in ids))
    pos = {g: i for i, g in enumerate(order)}
    index = {name: np.array([pos[g] for g in ids], dtype=int) for name, ids in lists.items()}
    sub = adata[:, order]  # AnnData's subset also drops the categories no kept gene has
    X = sub.X.toarray() if hasattr(sub.X, "toarray") else sub.X
    sub_var = sub.var.copy()
    if "symbol" not in sub_var.columns:
        sub_var["symbol"] = sub_var.index.astype(str)
    return Dataset(np.asarray(X, dtype=np.float64), adata.obs.copy(), sub_var), index


def load_experiment(h5ad, genes_tsv, exp: dict) -> tuple[Dataset, np.ndarray]:
    """A generator-style experiment (one gene list, a class label and covariates: `label`,
    `categorical`, `numerical`): the dataset on its genes and the class of every sample."""
    data, _ = load_dataset(h5ad, {"genes": genes_tsv})
    check_columns(data.obs, [*label_columns(exp["label"]), *exp.get("categorical", []), *exp.get("numerical", [])],
                  h5ad)
    return data, class_labels(data.obs, exp["label"])


def replicate_factor(n_train: int, n_other: int) -> int:
    """How many synthetic samples per held-out sample make as many as the training split has."""
    return max(1, int(round(n_train / max(n_other, 1))))
