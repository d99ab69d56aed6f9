"""The one data split of gexflow: stratified by condition, grouped by patient (a patient's
tumour and normal samples always land in the same part), reproducible from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from gexflow.config import val_carve_splits
from gexflow.errors import InputError


@dataclass
class Split:
    train: np.ndarray  # sample indices
    val: np.ndarray
    test: np.ndarray


def _carve(idx: np.ndarray, strata, groups, n_splits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `idx` into (rest, part) with about 1 / n_splits of the groups in `part`."""
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        rest, part = next(sgkf.split(idx, strata[idx], groups[idx]))
    except ValueError as e:  # the pre-run check (config._check_split_sizes) should make this unreachable
        raise InputError("config", "split.val_fraction", f"no validation part can be carved ({e})",
                         "lower split.folds or raise split.val_fraction") from None
    return idx[rest], idx[part]


def carve_fraction(idx: np.ndarray, strata, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `idx` into (rest, part) with about `fraction` of the groups in `part`, stratified
    (the release's privacy holdout)."""
    return _carve(idx, strata, groups, max(2, int(round(1 / fraction))), seed)


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
        train, val = _carve(rest, strata, groups, val_carve_splits(k, val_fraction), seed + 1 + i)
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


def check_split_table(table: pd.DataFrame, split_tsv) -> None:
    """What a split must be: one row per sample, every fold column's roles in {train, val, test},
    every fold with all three parts, and no patient (group) in two roles of one fold."""
    fix = f"rebuild it: `snakemake --forcerun split_samples` (or delete {split_tsv} and rerun)"
    for col in ("sample_id", "class", "group"):
        if col not in table.columns:
            raise InputError(split_tsv, col, "column missing from the split table", fix)
    dup = table["sample_id"][table["sample_id"].duplicated()]
    if len(dup):
        raise InputError(split_tsv, "sample_id", f"{len(dup)} samples appear more than once (e.g. {dup.iloc[0]})", fix)
    folds = [c for c in table.columns if c.startswith("fold_")]
    if not folds:
        raise InputError(split_tsv, "fold_0", "no fold column", fix)
    for col in folds:
        bad = ~table[col].isin(ROLES)
        if bad.any():
            raise InputError(split_tsv, col, f"role '{table.loc[bad, col].iloc[0]}' of sample "
                             f"{table.loc[bad, 'sample_id'].iloc[0]} is not one of {', '.join(ROLES)}", fix)
        missing = [r for r in ROLES if not (table[col] == r).any()]
        if missing:
            raise InputError(split_tsv, col, f"no {missing[0]} samples", fix)
        per_group = table.groupby("group")[col].nunique()
        mixed = per_group[per_group > 1]
        if len(mixed):
            raise InputError(split_tsv, col, f"patient {mixed.index[0]} is in more than one part of the fold "
                             "(patient leakage between train, validation and test)", fix)


def read_split(split_tsv, sample_ids, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices into `sample_ids` for one fold of a split file, after its
    integrity record and its structure are checked (check_split_table)."""
    from gexflow.io import read_intermediate

    table = read_intermediate(split_tsv, dtype=str, keep_default_na=False)
    check_split_table(table, split_tsv)
    table = table.set_index("sample_id")
    col = f"fold_{fold}"
    if col not in table.columns:
        raise InputError(split_tsv, col, "fold not in the split table", "rerun split_samples with more folds")
    role = table[col].reindex(pd.Index(sample_ids).astype(str))
    if role.isna().any():
        raise InputError(split_tsv, "sample_id", "split table does not match the dataset's samples",
                         "rebuild it: `snakemake --forcerun split_samples`")
    role = role.to_numpy()
    return tuple(np.flatnonzero(role == r) for r in ROLES)
