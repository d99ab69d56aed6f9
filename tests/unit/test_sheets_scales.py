"""Sample sheets and input scales (issue 19): one sheet reader for the pre-run checks, staging
and the filter (a blank first header is the sample id column), missing covariate policies, an
unused duplicated column, excluded samples said as excluded, and the log2 / log2_centred scales.
Real KIRC subset fixtures (tests/data) unless a case says synthetic."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from gexflow import config as C
from gexflow import filtering, sheets
from gexflow.stages.filter import filter_normalise

from conftest import KIRC_SAMPLES, KIRC_SUBSET, assert_one_clear_error, filter_job, run_as_rule, stage_kirc


def real_sheet() -> pd.DataFrame:
    return pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str, keep_default_na=False)


def write_sheet(tmp_path, sheet: pd.DataFrame, name="samples.tsv"):
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    p = d / name
    sheet.to_csv(p, sep="\t", index=False)
    return p


def run_filter(tmp_path, tiny_paths, sheet_file, dataset=None, filter_settings=None, matrix=KIRC_SUBSET):
    staged = stage_kirc(tmp_path / "staged", matrix=matrix, samples=sheet_file)
    dataset = {"samples": str(sheet_file), "matrix": str(matrix), **(dataset or {})}
    job = filter_job(tiny_paths, staged, tmp_path / "out", dataset=dataset, filter_settings=filter_settings,
                     log=tmp_path / "logs" / "filter.log")
    return job, run_as_rule(job, filter_normalise)


def steps_of(job) -> pd.DataFrame:
    return pd.read_csv(job.output["steps"], sep="\t")


# ------------------------------------------------------------------------------ blank first header
def test_blank_first_header_is_the_id_column_everywhere(tmp_path, tiny_paths):
    sheet = real_sheet().rename(columns={"sample_barcode": ""})
    sf = write_sheet(tmp_path, sheet)
    assert sheets.read_sheet(sf, "sample_id").columns[0] == "sample_id"
    ds = {"source": "embedded", "samples": str(sf), "sample_id_column": None, "patient_column": "patient_barcode",
          "condition_column": "condition"}
    real = {**ds, "samples": str(KIRC_SAMPLES), "sample_id_column": "sample_barcode"}
    # the split feasibility check's counts: the same patients as the original sheet
    assert C.sheet_counts(ds, ["condition"]) == C.sheet_counts(real, ["condition"])
    assert C.sheet_counts(ds, ["condition"])[1] == real_sheet()["patient_barcode"].nunique()
    assert "Unnamed: 0" not in C._sample_sheet_columns(ds)
    job, run = run_filter(tmp_path, tiny_paths, sf, dataset={"sample_id_column": None})
    assert run.code == 0, run.log
    a = ad.read_h5ad(job.output["h5ad"])
    assert a.n_obs == len(sheet) and "Unnamed: 0" not in a.obs.columns
    assert set(a.obs_names) == set(real_sheet()["sample_barcode"])


# ------------------------------------------------------------------------------- missing covariates
def normals_without_age(tmp_path):
    sheet = real_sheet()
    normal = sheet["condition"] == "normal"
    sheet.loc[normal, "age_at_diagnosis_years"] = ""
    return write_sheet(tmp_path, sheet), int(normal.sum()), sheet


def test_missing_covariate_error_is_one_line(tmp_path, tiny_paths):
    sf, n, _ = normals_without_age(tmp_path)
    job, run = run_filter(tmp_path, tiny_paths, sf)
    assert_one_clear_error(run, "in/samples.tsv", "age_at_diagnosis_years", words=["missing_covariates", str(n)],
                           out=tmp_path / "out")


def test_missing_covariate_from_patient(tmp_path, tiny_paths):
    sf, n, sheet = normals_without_age(tmp_path)
    job, run = run_filter(tmp_path, tiny_paths, sf, dataset={"missing_covariates": "from_patient"})
    assert run.code == 0, run.log
    a = ad.read_h5ad(job.output["h5ad"])
    real = real_sheet().set_index("sample_barcode")["age_at_diagnosis_years"].astype(float)
    assert np.allclose(a.obs["age_at_diagnosis_years"], real.loc[a.obs_names])
    step = steps_of(job).set_index("step").loc["missing_covariates:from_patient"]
    assert f"{n} empty values filled" in step["note"]


def test_missing_covariate_drop_samples(tmp_path, tiny_paths):
    sf, n, sheet = normals_without_age(tmp_path)
    job, run = run_filter(tmp_path, tiny_paths, sf, dataset={"missing_covariates": "drop_samples"})
    assert run.code == 0, run.log
    a = ad.read_h5ad(job.output["h5ad"])
    assert a.n_obs == len(sheet) - n and (a.obs["condition"] != "normal").all()
    step = steps_of(job).set_index("step").loc["missing_covariates:drop_samples"]
    assert step["samples"] == len(sheet) - n and f"{n} samples" in step["note"]


def test_missing_covariate_drop_covariate(tmp_path, tiny_paths):
    sf, n, sheet = normals_without_age(tmp_path)
    job, run = run_filter(tmp_path, tiny_paths, sf, dataset={"missing_covariates": "drop_covariate"})
    assert run.code == 0, run.log
    a = ad.read_h5ad(job.output["h5ad"])
    assert a.n_obs == len(sheet) and "age_at_diagnosis_years" not in a.obs.columns
    assert "covariate left out" in steps_of(job).set_index("step").loc["missing_covariates:drop_covariate", "note"]


# ---------------------------------------------------------------------- duplicate column, exclude
def test_excluded_samples_logged_as_excluded(tmp_path, tiny_paths):
    sf = write_sheet(tmp_path, real_sheet())
    job, run = run_filter(tmp_path, tiny_paths, sf, dataset={"exclude": {"gender": ["female"]}})
    assert run.code == 0, run.log
    n = int((real_sheet()["gender"] == "female").sum())
    assert f"{n} samples excluded" in run.log and "not in the sample sheet" not in run.log
    assert steps_of(job).set_index("step").loc["excluded", "samples"] == len(real_sheet()) - n


# ------------------------------------------------------------------------------------------ scales
def test_log2_scale_is_converted_to_log2p1_synthetic():
    v = np.array([[0.0, 1.0, 10.0, 200.0]])
    out = filtering.to_log2p1(v, "log2")
    assert np.allclose(out[0, :3], np.log2(np.exp2(v[0, :3]) + 1.0)) and np.isclose(out[0, 3], 200.0)


def test_log2_implausible_values_warn_synthetic(caplog):
    filtering.to_log2p1(np.array([[1.0, 40.0]]), "log2")
    assert "are the values linear" in caplog.text


def test_log2_centred_on_real_data(tmp_path, tiny_paths):
    m = pd.read_csv(KIRC_SUBSET, sep="\t", index_col=0)
    centred = m.sub(m.mean(axis=1), axis=0)
    centred.iloc[0] = 0.0  # one constant gene: the variance filter drops it
    mf = tmp_path / "in" / "centred.tsv.gz"
    mf.parent.mkdir()
    centred.to_csv(mf, sep="\t")
    sf = write_sheet(tmp_path, real_sheet())
    job, run = run_filter(tmp_path, tiny_paths, sf, matrix=mf, dataset={"scale": "log2_centred"},
                          filter_settings={"min_variance": 0.0})
    assert run.code == 0, run.log
    a = ad.read_h5ad(job.output["h5ad"])
    assert (a.X < 0).any() and a.n_vars == m.shape[0] - 1
    step = steps_of(job).set_index("step").loc["variance"]
    assert "min_expression" in step["note"] and "low_expression" not in set(steps_of(job)["step"])


def test_log2_centred_without_negatives_warns_synthetic(caplog):
    filtering.to_log2p1(np.ones((2, 2)), "log2_centred")
    assert "no value is negative" in caplog.text


@pytest.mark.parametrize("copy_of", ["vital_status", "gender"])
def test_a_duplicated_sheet_column_warns_unless_the_dataset_uses_it(tmp_path, tiny_paths, copy_of):
    """`race` renamed to a second `vital_status` (unused: a warning, the first copy kept) or a
    second `gender` (a covariate: one clear error)."""
    sf = tmp_path / "in" / "samples.tsv"
    sf.parent.mkdir()
    sf.write_text(KIRC_SAMPLES.read_text().replace("race", copy_of, 1))
    job, run = run_filter(tmp_path, tiny_paths, sf)
    if copy_of == "gender":
        assert_one_clear_error(run, "in/samples.tsv", "gender", words=["more than once"], out=tmp_path / "out")
    else:
        assert run.code == 0, run.log
        assert "vital_status" in run.log and "more than once" in run.log


def test_deg_fold_change_on_centred_values_is_a_difference_of_means_synthetic():
    from gexflow import deg

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    X[:5, 0] += 2.0
    design = deg.Design("unpaired", np.arange(5), np.arange(5, 10), 0, "synthetic")
    var = pd.DataFrame({"symbol": list("abc")}, index=list("abc"))
    t = deg.call_degs(X, var, design, alpha=0.05, correction="fdr_bh", log2fc_threshold=1.0, method="welch",
                      centred=True)
    assert np.allclose(t["log2fc"], X[:5].mean(axis=0) - X[5:].mean(axis=0))


def test_from_patient_needs_a_patient_column():
    from conftest import tiny_config

    cfg = tiny_config()
    ds = cfg["datasets"]["kirc_subset"]
    ds["missing_covariates"] = "from_patient"
    ds.pop("patient_column")
    import contextlib

    from conftest import REPO

    with contextlib.chdir(REPO), pytest.raises(C.InputError, match="patient_column"):
        C.validate_config(cfg, "my.yaml", C.SCHEMA)


def test_weighted_mse_refuses_centred_values_synthetic():
    from gexflow import inference

    inference.check_loss_weights(None)
    inference.check_loss_weights(np.ones((2, 2)))
    with pytest.raises(C.InputError, match="loss: mse"):
        inference.check_loss_weights(np.array([[-0.5, 1.0]]))
