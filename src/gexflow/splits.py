"""The one data split of gexflow: stratified by condition, grouped by patient (a patient's
tumour and normal samples always land in the same part), reproducible from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from gexflow.errors import InputError


@dataclass
class Split:
    train: np.ndarray  # sample indices
    val: np.ndarray
    test: np.ndarray


def _carve(idx: np.ndarray, strata, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `idx` into (rest, part) with about `fraction` of the groups in `part`."""
    n_splits = max(2, int(round(1 / fraction)))
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, part = next(sgkf.split(idx, strata[idx], groups[idx]))
    return idx[rest], idx[part]


def train_val_test(strata, groups, *, val_fraction: float, test_fraction: float, seed: int, what="samples") -> Split:
    """Train / validation / test indices; validation is for model selection, test is touched once."""
    strata, groups = np.asarray(strata).astype(str), np.asarray(groups).astype(str)
    if len(np.unique(groups)) < 3:
        raise InputError(what, "patient", f"only {len(np.unique(groups))} patients: cannot make train, validation "
                         "and test parts", "use a dataset with more patients")
    idx = np.arange(len(strata))
    rest, test = _carve(idx, strata, groups, test_fraction, seed)
    train, val = _carve(rest, strata, groups, val_fraction / (1 - test_fraction), seed + 1)
    return Split(np.sort(train), np.sort(val), np.sort(test))


def k_folds(strata, groups, *, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (train, held-out) folds, stratified by condition and grouped by patient."""
    strata, groups = np.asarray(strata).astype(str), np.asarray(groups).astype(str)
    if k < 2 or k > len(np.unique(groups)):
        raise InputError("config", "split.folds", f"{k} folds for {len(np.unique(groups))} patients (groups)",
                         "set split.folds (or the experiment's split.folds) between 2 and the number of patients")
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.sort(a), np.sort(b)) for a, b in sgkf.split(np.zeros(len(strata)), strata, groups)]


def fold_splits(strata, groups, *, k: int, val_fraction: float, seed: int) -> list[Split]:
    """K train / validation / test splits: fold i's held-out part is the test set, and the
    validation set (about `val_fraction` of all samples) is carved from the rest, same grouping."""
    strata, groups = np.asarray(strata).astype(str), np.asarray(groups).astype(str)
    out = []
    for i, (rest, test) in enumerate(k_folds(strata, groups, k=k, seed=seed)):
        if len(np.unique(groups[rest])) < 2:
            raise InputError("config", "split.folds", "too few patients left for a validation part",
                             "lower split.folds")
        train, val = _carve(rest, strata, groups, val_fraction / (1 - 1 / k), seed + 1 + i)
        out.append(Split(np.sort(train), np.sort(val), np.sort(test)))
    return out


ROLES = ("train", "val", "test")


def split_table(sample_ids, labels, groups, splits: list[Split]) -> pd.DataFrame:
    """The split file every model stage reads: sample_id, class, group, and fold_i in
    {train, val, test} for each fold."""
    table = pd.DataFrame({"sample_id": np.asarray(sample_ids).astype(str), "class": labels, "group": groups})
    for i, s in enumerate(splits):
        role = np.empty(len(table), dtype=object)
        role[s.train], role[s.val], role[s.test] = ROLES
        table[f"fold_{i}"] = role
    return table


def read_split(split_tsv, sample_ids, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices into `sample_ids` for one fold of a split file."""
    table = pd.read_csv(split_tsv, sep="\t", dtype=str).set_index("sample_id")
    col = f"fold_{fold}"
    if col not in table.columns:
        raise InputError(split_tsv, col, "fold not in the split table", "rerun split_samples with more folds")
    role = table[col].reindex(pd.Index(sample_ids).astype(str))
    if role.isna().any():
        raise InputError(split_tsv, "sample_id", "split table does not match the dataset's samples",
                         "rerun split_samples")
    role = role.to_numpy()
    return tuple(np.flatnonzero(role == r) for r in ROLES)
