"""Stage split_samples: the one K-fold train / validation / test split of a dataset for a class
label, which every model stage on that dataset reads (generators, regressors and embeddings are
scored on the same folds)."""

from __future__ import annotations

import logging

from gexflow.errors import InputError
from gexflow.experiment import check_columns, class_labels, label_columns
from gexflow.io import read_h5ad, write_tsv
from gexflow.splits import fold_splits, split_table

log = logging.getLogger("gexflow.stages.split")


def split_samples(job) -> None:
    """Rule split_samples: split.tsv (sample_id, class, group, and fold_i in {train, val, test}
    for each fold), stratified by the class label, grouped by patient (or by sample without a
    patient column)."""
    p = job.params["job"]
    h5ad, label, patient_column, folds = job.input["h5ad"], p["label"], p["patient_column"], p["folds"]

    obs = read_h5ad(h5ad, backed="r").obs.copy()
    check_columns(obs, label_columns(label) + ([patient_column] if patient_column else []), h5ad,
                  "split label or patient column")
    labels = class_labels(obs, label)
    groups = obs[patient_column].astype(str).to_numpy() if patient_column else obs.index.astype(str).to_numpy()
    per_class = {c: len(set(groups[labels == c])) for c in sorted(set(labels))}
    small = {c: n for c, n in per_class.items() if n < folds}
    if small:
        c, n = min(small.items(), key=lambda kv: kv[1])
        raise InputError("config", "split.folds", f"{folds} folds, but class '{c}' has only {n} patients in {h5ad} "
                         "(each fold's test part needs one of every class)",
                         f"set split.folds (or the experiment's split.folds) to at most {min(per_class.values())}, "
                         "or merge or exclude small classes")
    splits = fold_splits(labels, groups, k=folds, val_fraction=p["val_fraction"], seed=p["seed"])
    write_tsv(split_table(obs.index, labels, groups, splits), job.output["split"])
    for i, s in enumerate(splits):
        log.info("fold %d: %d train, %d validation, %d test samples", i, len(s.train), len(s.val), len(s.test))
