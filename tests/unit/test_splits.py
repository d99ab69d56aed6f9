"""The one data split (gexflow.splits) on the real KIRC pairs: K folds stratified by condition and
grouped by patient, each with a validation part carved from its training part; the split table
every model stage reads, and what read_split refuses (a changed or unrecorded file, a table that
is not a split, a split of other samples)."""

import numpy as np
import pandas as pd
import pytest

from gexflow import splits
from gexflow.errors import InputError
from gexflow.io import sidecar, write_tsv

from conftest import REPO


@pytest.fixture(scope="module")
def sheet():
    return pd.read_csv(REPO / "resources/tcga/kirc_paired_samples.tsv", sep="\t", dtype=str)


def test_fold_splits_are_grouped_stratified_and_seeded(sheet):
    folds = splits.fold_splits(sheet.condition, sheet.patient_barcode, k=3, val_fraction=0.15, seed=3)
    assert len(folds) == 3
    for s in folds:
        parts = [s.train, s.val, s.test]
        assert sorted(np.concatenate(parts)) == list(range(len(sheet)))
        patients = [set(sheet.patient_barcode.iloc[p]) for p in parts]
        assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
        for p in parts:
            assert set(sheet.condition.iloc[p]) == {"tumor", "normal"}
        assert 0.25 < len(s.test) / len(sheet) < 0.42 and 0.08 < len(s.val) / len(sheet) < 0.25
    # the test parts are the K folds: disjoint, every sample once
    tests = np.concatenate([s.test for s in folds])
    assert sorted(tests) == list(range(len(sheet)))
    again = splits.fold_splits(sheet.condition, sheet.patient_barcode, k=3, val_fraction=0.15, seed=3)
    other = splits.fold_splits(sheet.condition, sheet.patient_barcode, k=3, val_fraction=0.15, seed=4)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val) for a, b in zip(folds, again))
    assert not np.array_equal(folds[0].test, other[0].test)


def test_k_folds_cover_every_sample_once(sheet):
    folds = splits.k_folds(sheet.condition, sheet.patient_barcode, k=5, seed=0)
    held = np.concatenate([b for _, b in folds])
    assert sorted(held) == list(range(len(sheet)))
    for a, b in folds:
        assert not set(sheet.patient_barcode.iloc[a]) & set(sheet.patient_barcode.iloc[b])
    with pytest.raises(InputError, match="field 'split.folds': 1 folds for 72 patients"):
        splits.k_folds(sheet.condition, sheet.patient_barcode, k=1, seed=0)


@pytest.fixture
def split_file(tmp_path, sheet):
    folds = splits.fold_splits(sheet.condition, sheet.patient_barcode, k=3, val_fraction=0.15, seed=0)
    table = splits.split_table(sheet.sample_barcode, sheet.condition.to_numpy(), sheet.patient_barcode.to_numpy(),
                               folds)
    path = tmp_path / "split-0000abcd" / "split.tsv"
    write_tsv(table, path)
    return path, table, folds


def test_split_table_round_trips_through_read_split(split_file, sheet):
    path, table, folds = split_file
    assert list(table.columns) == ["sample_id", "class", "group", "fold_0", "fold_1", "fold_2"]
    order = sheet.sample_barcode.sample(frac=1, random_state=0).to_numpy()  # the dataset's own order
    for i, s in enumerate(folds):
        train, val, test = splits.read_split(path, order, i)
        pos = {sid: k for k, sid in enumerate(order)}
        for got, want in ((train, s.train), (val, s.val), (test, s.test)):
            assert sorted(got) == sorted(pos[x] for x in sheet.sample_barcode.iloc[want])
    with pytest.raises(InputError, match="field 'fold_3'.*more folds"):
        splits.read_split(path, order, 3)
    with pytest.raises(InputError, match="field 'sample_id'.*does not match.*--forcerun split_samples"):
        splits.read_split(path, [*order, "TCGA-XX-0000-01A"], 0)


def test_read_split_refuses_an_unrecorded_or_changed_file(split_file, sheet):
    path, _, _ = split_file
    data = path.read_bytes()
    path.write_bytes(data.replace(b"\ttrain", b"\ttest", 1))
    with pytest.raises(InputError, match=r"split.tsv: field '\(whole file\)': changed or damaged.*"
                                         r"--forcerun split_samples"):
        splits.read_split(path, sheet.sample_barcode, 0)
    sidecar(path).unlink()
    with pytest.raises(InputError, match="has no integrity record.*--forcerun split_samples"):
        splits.read_split(path, sheet.sample_barcode, 0)


def _damaged(table, how):
    t = table.copy()
    if how == "duplicate_sample":
        return pd.concat([t, t.iloc[[0]]], ignore_index=True)
    if how == "unknown_role":
        t.loc[3, "fold_1"] = "holdout"
    elif how == "fold_without_validation":
        t.loc[t["fold_0"] == "val", "fold_0"] = "train"
    elif how == "patient_in_two_parts":
        g = t.groupby("group").filter(lambda d: len(d) == 2)["group"].iloc[0]
        rows = t.index[t["group"] == g]
        t.loc[rows[0], "fold_2"], t.loc[rows[1], "fold_2"] = "train", "test"
    elif how == "column_missing":
        t = t.drop(columns=["group"])
    elif how == "no_fold":
        t = t[["sample_id", "class", "group"]]
    return t


@pytest.mark.parametrize("how, field, words", [
    ("duplicate_sample", "sample_id", "more than once"),
    ("unknown_role", "fold_1", "'holdout'"),
    ("fold_without_validation", "fold_0", "no val samples"),
    ("patient_in_two_parts", "fold_2", "patient leakage"),
    ("column_missing", "group", "column missing"),
    ("no_fold", "fold_0", "no fold column"),
])
def test_read_split_checks_the_structure(split_file, sheet, how, field, words):
    path, table, _ = split_file
    write_tsv(_damaged(table, how), path)  # recorded, so only the structure check can refuse it
    with pytest.raises(InputError) as e:
        splits.read_split(path, sheet.sample_barcode, 0)
    msg = str(e.value)
    assert f"field '{field}'" in msg and words in msg and "--forcerun split_samples" in msg, msg


def test_the_pre_run_split_check_accepts_exactly_the_class_sizes_the_split_can_serve():
    """config's check (every class >= folds patients, and enough left after a test fold to carve
    a validation part) against fold_splits itself on one patient per sample: accepted sizes split
    with every class in every part and no sklearn warning; rejected sizes do not."""
    import itertools
    import warnings

    from gexflow import config as C

    for na, nb, k, vf in itertools.product(range(2, 10), range(2, 10), (2, 3, 5), (0.1, 0.2, 0.3)):
        per = {"a": na, "b": nb}
        accepted = min(per.values()) >= k and C.validation_shortfall(per, k, vf) is None
        strata = np.array(["a"] * na + ["b"] * nb)
        groups = np.array([f"p{i}" for i in range(na + nb)])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                parts = splits.fold_splits(strata, groups, k=k, val_fraction=vf, seed=0)
                served = all({"a", "b"} == set(strata[getattr(s, r)]) for s in parts for r in ("train", "val", "test"))
            except (InputError, UserWarning, ValueError):
                served = False
        assert accepted == served, (na, nb, k, vf, accepted, served)
