"""Stage entry points run as their rules run them (gexflow.runner.run_job through conftest's
run_as_rule; no snakemake), on the real KIRC subset in tests/data, damaged in one way per case.

Bad input and faults: exit status 1 and exactly one error line that names the user's file (never
the staged copy a stage read), the field and the fix, with no traceback, no partial output and
nothing written outside the job's directories. Valid but unusual input (a gzipped or CRLF sample
sheet, identical duplicate rows where allowed, an empty DEG set, missing landmarks with `impute`)
succeeds. The user's matrix and sheet go through both data stages, stage_embedded_bulk and then
filter_normalise, each as its rule; the first that fails is the one checked."""

import errno
import gzip
import json
import os

import numpy as np
import pandas as pd
import pytest

from gexflow.io import write_h5ad, write_sidecar, write_tsv
from gexflow.stages.download import stage_embedded_bulk
from gexflow.stages.filter import filter_normalise

from conftest import (
    DATA,
    KIRC_SAMPLES,
    KIRC_SUBSET,
    REPO,
    RUNTIME,
    assert_one_clear_error,
    filter_job,
    make_job,
    run_as_rule,
    stage_kirc,
)

# what a job may leave in tmp_path besides its own outputs: the user's files, the staged copies, logs
ALLOWED = ("out", "logs", "in", "staged")
FILTER_OUTPUTS = sorted(["filtered.h5ad", "filter_steps.tsv", "id_mapping.tsv", "filter_qc.png",
                         ".filtered.h5ad.sha256", ".filter_steps.tsv.sha256", ".id_mapping.tsv.sha256"])


# ------------------------------------------------------------------------ the user's files, both data stages
def real_tables():
    return pd.read_csv(KIRC_SUBSET, sep="\t"), pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)


def write_inputs(tmp_path, expr=None, sheet=None, expr_bytes=None, sheet_bytes=None, matrix_name="expr.tsv.gz",
                 sheet_name="samples.tsv"):
    """The user's matrix and sample sheet under tmp_path/in (the real tables unless given)."""
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    e, s = real_tables()
    expr = e if expr is None else expr
    sheet = s if sheet is None else sheet
    ef, sf = d / matrix_name, d / sheet_name
    if expr_bytes is None:
        with gzip.open(ef, "wt") as fh:
            expr.to_csv(fh, sep="\t", index=False)
    else:
        ef.write_bytes(expr_bytes)
    if sheet_bytes is None:
        sheet.to_csv(sf, sep="\t", index=False, compression="gzip" if sheet_name.endswith(".gz") else None)
    else:
        sf.write_bytes(sheet_bytes)
    return ef, sf


def run_data_stages(tmp_path, tiny_paths, ef, sf, dataset=None, filter_settings=None):
    """The user's files staged (stage_embedded_bulk into tmp_path/staged) and filtered
    (filter_normalise into tmp_path/out, the dataset's `matrix` / `samples` naming the user's
    files), each as its rule. Returns (the run of the first that failed, or of the filter, its
    rule, its output directory)."""
    staged_dir = tmp_path / "staged"
    staged = {"expression": staged_dir / "expression.tsv.gz", "samples": staged_dir / "samples.tsv"}
    stage = make_job("stage_embedded_bulk", input={"matrix": ef, "samples": sf, "sums": DATA / "SHA256SUMS"},
                     output=staged, log=tmp_path / "logs" / "stage.log")
    run = run_as_rule(stage, stage_embedded_bulk)
    if run.code:
        return run, "stage_embedded_bulk", staged_dir
    job = filter_job(tiny_paths, staged, tmp_path / "out", dataset={"matrix": str(ef), "samples": str(sf),
                                                                    **(dataset or {})},
                     filter_settings=filter_settings, log=tmp_path / "logs" / "filter.log")
    return run_as_rule(job, filter_normalise), "filter_normalise", tmp_path / "out"


def message_body(msg: str, rule: str) -> str:
    """The error line without the log prefix (time, level, logger)."""
    return msg.split(f"gexflow.{rule}: ", 1)[1]


def expect_error(tmp_path, tiny_paths, ef, sf, file_part, field, *, dataset=None, filter_settings=None, words=()):
    """The data stages on the user's files stop with one clear error; where it is about the
    matrix or the sheet, the line starts with the user's path, not the staged copy's."""
    run, rule, out = run_data_stages(tmp_path, tiny_paths, ef, sf, dataset, filter_settings)
    msg = assert_one_clear_error(run, file_part, field, words=words, out=out, root=tmp_path, allowed=ALLOWED)
    users = {ef.name: ef, sf.name: sf}
    if file_part in users:
        assert message_body(msg, rule).startswith(f"{users[file_part]}: field '{field}'"), msg
    return msg


def expect_outputs(tmp_path, tiny_paths, ef, sf, dataset=None):
    run, rule, _ = run_data_stages(tmp_path, tiny_paths, ef, sf, dataset)
    assert rule == "filter_normalise" and run.code == 0 and not run.errors, run.log
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == FILTER_OUTPUTS


# ----------------------------------------------------------------------- the filter stage, one fault per test
def test_clean_input_writes_all_outputs(tmp_path, tiny_paths):
    """Every output with its integrity record (the hidden sha256 sidecars the reading stages check)."""
    expect_outputs(tmp_path, tiny_paths, *write_inputs(tmp_path))


def test_sample_not_in_matrix(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expr = expr.drop(columns=[sheet["sample_barcode"].iloc[0]])
    msg = expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet), "samples.tsv", "sample_barcode")
    assert sheet["sample_barcode"].iloc[0] in msg


def test_duplicate_gene_ids(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expr = pd.concat([expr, expr.iloc[[0]].assign(**{expr.columns[1]: 0.0})])
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet), "expr.tsv.gz", "gene_symbol")


def test_identical_duplicates_collapse_only_when_allowed(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expr = pd.concat([expr, expr.iloc[[0]]])
    ef, sf = write_inputs(tmp_path, expr, sheet)
    expect_error(tmp_path, tiny_paths, ef, sf, "expr.tsv.gz", "gene_symbol")
    expect_outputs(tmp_path, tiny_paths, ef, sf, dataset={"duplicate_gene_ids": "drop_identical"})


def test_nan_values(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expr.iloc[3, 5] = float("nan")
    msg = expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet), "expr.tsv.gz", expr.columns[5])
    assert "missing_values: drop_genes" in msg


def test_negative_values_where_counts_expected(tmp_path, tiny_paths):
    # log values include -2.00: impossible as counts
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path), "expr.tsv.gz", "scale", dataset={"scale": "counts"})


def test_empty_matrix_after_filtering(tmp_path, tiny_paths):
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path), "expr.tsv.gz", "filter.min_expression",
                 filter_settings={"min_expression": 50.0})


def test_missing_sample_sheet_column(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet.drop(columns=["gender"])), "samples.tsv",
                 "gender")


def test_non_numeric_numerical_covariate(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    sheet.loc[4, "age_at_diagnosis_years"] = "unknown"
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet), "samples.tsv", "age_at_diagnosis_years")


def test_non_numeric_sample_column(tmp_path, tiny_paths):
    expr, sheet = real_tables()
    expr[expr.columns[2]] = "x"
    expect_error(tmp_path, tiny_paths, *write_inputs(tmp_path, expr, sheet), "expr.tsv.gz", expr.columns[2])


# ------------------------------------------------------------------------- the filter stage, the case table
def gz_bytes(text: str) -> bytes:
    return gzip.compress(text.encode())


def _truncated_gzip():
    return KIRC_SUBSET.read_bytes()[:38000]


def _dup_sample_column():
    e, _ = real_tables()
    cols = list(e.columns)
    text = "\t".join(cols[:3] + [cols[2]] + cols[4:]) + "\n"
    text += e.to_csv(sep="\t", index=False, header=False)
    return gz_bytes(text)


SAMPLE = real_tables()[0].columns  # the matrix's columns: gene_symbol, then one per sample
CELL_COLUMN = SAMPLE[19]  # the sample column holding the damaged cell of _cell


def _cell(value, row=11, col=19):
    e, _ = real_tables()
    e = e.astype({e.columns[col]: object})
    e.iloc[row, col] = value
    return e


def _sheet_edit(col, row, value):
    _, s = real_tables()
    s.loc[row, col] = value
    return s


# id -> (inputs for write_inputs, dataset overrides, file part, field, words)
FILTER_CASES = {
    "truncated_gzip_matrix": (dict(expr_bytes=_truncated_gzip()), {}, "expr.tsv.gz", "(whole file)", ["truncated"]),
    "empty_matrix_file": (dict(expr_bytes=b""), {}, "expr.tsv.gz", "(whole file)", ["empty"]),
    "empty_gzip_matrix": (dict(expr_bytes=gz_bytes("")), {}, "expr.tsv.gz", "(whole file)", ["empty"]),
    "empty_sample_sheet": (dict(sheet_bytes=b""), {}, "samples.tsv", "(whole file)", ["empty"]),
    "binary_matrix": (dict(expr_bytes=bytes(range(256)) * 40), {}, "expr.tsv.gz", "(whole file)", ["UTF-8"]),
    "latin1_sample_sheet": (dict(sheet_bytes="sample_barcode\tcondition\nS\xe9\ttumor\n".encode("latin-1")), {},
                            "samples.tsv", "(whole file)", ["UTF-8"]),
    "header_only_matrix": (dict(expr_bytes=gz_bytes("gene_symbol\tA\tB\n")), {}, "expr.tsv.gz", "(rows)", []),
    "duplicate_sample_column": (dict(expr_bytes=_dup_sample_column()), {}, "expr.tsv.gz", SAMPLE[2],
                                ["more than once"]),
    "duplicate_sheet_column": (dict(sheet_bytes=(lambda s: s.replace("gender", "condition", 1))(
        KIRC_SAMPLES.read_text()).encode()), {}, "samples.tsv", "condition", ["more than once"]),
    "duplicate_gene_ids": (dict(expr=pd.concat([real_tables()[0], real_tables()[0].iloc[[0]]])), {}, "expr.tsv.gz",
                           "gene_symbol", ["duplicate gene ids"]),
    "non_numeric_cell": (dict(expr=_cell("n/a?")), {}, "expr.tsv.gz", CELL_COLUMN, ["'n/a?'", "data row 12"]),
    "missing_cell": (dict(expr=_cell(np.nan)), {}, "expr.tsv.gz", CELL_COLUMN, ["missing_values: drop_genes"]),
    "infinite_cell": (dict(expr=_cell(np.inf)), {}, "expr.tsv.gz", CELL_COLUMN, ["non-finite"]),
    "huge_value_log2p1": (dict(expr=_cell(1e300)), {"scale": "log2p1"}, "expr.tsv.gz", "scale",
                          ["1e+300", "far above"]),
    # with the scale check off, the stored values are still checked (float32 overflow)
    "huge_value_unchecked": (dict(expr=_cell(1e300)), {"scale": "log2p1", "scale_check": False}, "expr.tsv.gz",
                             CELL_COLUMN, ["not finite", "float32"]),
    # read as log2p1, the real log2(x + 0.25) values are negative from the first sample on
    "negative_value_log2p1": (dict(expr=_cell(-3.0)), {"scale": "log2p1"}, "expr.tsv.gz", SAMPLE[1], ["negative"]),
    "negative_value_linear": (dict(expr=_cell(-3.0)), {"scale": "linear"}, "expr.tsv.gz", "scale", []),
    "negative_value_counts": (dict(), {"scale": "counts"}, "expr.tsv.gz", "scale", []),
    "overflow_log2_offset": (dict(expr=_cell(2000.0)), {}, "expr.tsv.gz", "scale", ["2000", "look linear"]),
    "overflow_log2_offset_unchecked": (dict(expr=_cell(2000.0)), {"scale_check": False}, "expr.tsv.gz",
                                       CELL_COLUMN, ["not finite"]),
    "gene_id_column_missing": (dict(), {"gene_id_column": "symbol"}, "expr.tsv.gz", "symbol", []),
    "annotation_column_missing": (dict(), {"annotation_columns": ["entrez"]}, "expr.tsv.gz", "entrez", []),
    "sample_id_column_missing": (dict(), {"sample_id_column": "barcode"}, "samples.tsv", "barcode", []),
    "condition_column_missing": (dict(), {"condition_column": "status"}, "samples.tsv", "status", []),
    "empty_sample_id": (dict(sheet=_sheet_edit("sample_barcode", 0, "")), {}, "samples.tsv", "sample_barcode", []),
    "duplicate_sample_id": (dict(sheet=_sheet_edit("sample_barcode", 1, real_tables()[1].sample_barcode[0])), {},
                            "samples.tsv", "sample_barcode", ["duplicate"]),
    "sample_not_in_matrix": (dict(sheet=_sheet_edit("sample_barcode", 0, "TCGA-XX-0000-01A")), {}, "samples.tsv",
                             "sample_barcode", ["TCGA-XX-0000-01A"]),
    "age_not_a_number": (dict(sheet=_sheet_edit("age_at_diagnosis_years", 2, "sixty")), {}, "samples.tsv",
                         "age_at_diagnosis_years", ["sixty"]),
    "empty_condition": (dict(sheet=_sheet_edit("condition", 3, "")), {}, "samples.tsv", "condition", []),
    "matrix_without_samples": (dict(expr_bytes=gz_bytes("gene_symbol\nA1BG\n")), {}, "expr.tsv.gz",
                               "(sample columns)", []),
    "nothing_left_after_filter": (dict(), {}, "expr.tsv.gz", "filter.min_expression", []),
    "wrong_gene_id_type": (dict(), {"gene_id_type": "entrez"}, "expr.tsv.gz", "gene_id_type",
                           ["0% of", "expected e.g. 7157"]),
    "exclude_column_not_in_sheet": (dict(), {"exclude": {"tissue": ["biopsy"]}}, "samples.tsv", "tissue", []),
    "include_keeps_nothing": (dict(), {"include": {"condition": ["biopsy"]}}, "samples.tsv", "include", []),
    "probe_annotation_column_missing": (dict(), {"gene_id_type": "probe", "probe_annotation": {
        "file": str(REPO / "resources/geo/GPL97.annot.gz"), "symbol_column": "Symbol"}}, "GPL97.annot.gz",
        "Symbol", []),
}


@pytest.mark.parametrize("case", FILTER_CASES, ids=list(FILTER_CASES))
def test_filter_stage_bad_input(tmp_path, tiny_paths, case):
    kwargs, ds, file_part, field, words = FILTER_CASES[case]
    ef, sf = write_inputs(tmp_path, **kwargs)
    settings = {"min_expression": 1e6} if case == "nothing_left_after_filter" else None
    expect_error(tmp_path, tiny_paths, ef, sf, file_part, field, dataset=ds, filter_settings=settings, words=words)


def test_errors_on_staged_copies_name_the_users_file(tmp_path, tiny_paths):
    """The filter reads the staged copy; the message names the file the user gave (and says
    it was read from its staged copy)."""
    ef, sf = write_inputs(tmp_path, expr=_cell("oops"), matrix_name="my_cohort_matrix.tsv.gz")
    msg = expect_error(tmp_path, tiny_paths, ef, sf, "my_cohort_matrix.tsv.gz", CELL_COLUMN,
                       words=["staged copy", "'oops'", str(tmp_path / "staged" / "expression.tsv.gz")])
    assert message_body(msg, "filter_normalise").startswith(f"{ef}: field '{CELL_COLUMN}'")


@pytest.mark.parametrize("sheet_name", ["samples.tsv.gz", "samples_crlf.tsv"])
def test_valid_but_unusual_sheets_are_read(tmp_path, tiny_paths, sheet_name):
    if sheet_name.endswith(".gz"):
        ef, sf = write_inputs(tmp_path, sheet_name=sheet_name)
    else:
        ef, sf = write_inputs(tmp_path, sheet_bytes=KIRC_SAMPLES.read_text().replace("\n", "\r\n").encode(),
                              sheet_name=sheet_name)
    expect_outputs(tmp_path, tiny_paths, ef, sf)


# --------------------------------------------------------------------------------------------- staging
def test_staging_a_truncated_gzip_matrix_fails_at_once(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "m.tsv.gz").write_bytes(_truncated_gzip())
    (d / "s.tsv").write_text(KIRC_SAMPLES.read_text())
    out = tmp_path / "out"
    job = make_job("stage_embedded_bulk", input={"matrix": d / "m.tsv.gz", "samples": d / "s.tsv"},
                   output={"expression": out / "expression.tsv.gz", "samples": out / "samples.tsv"},
                   log=tmp_path / "logs" / "stage.log")
    msg = assert_one_clear_error(run_as_rule(job, stage_embedded_bulk), "m.tsv.gz", "(whole file)",
                                 words=["truncated"], out=out, root=tmp_path)
    assert message_body(msg, "stage_embedded_bulk").startswith(f"{d / 'm.tsv.gz'}: field")


def test_staging_decompresses_a_gzipped_sample_sheet(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "s.tsv.gz").write_bytes(gzip.compress(KIRC_SAMPLES.read_bytes()))
    staged = stage_kirc(tmp_path / "out", samples=d / "s.tsv.gz")
    assert staged["samples"].read_bytes() == KIRC_SAMPLES.read_bytes()


# --------------------------------------------------------------------------------------- storage faults
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["disk_full", "read_only", "denied"])
def test_storage_faults_give_one_line_naming_the_directory(tmp_path, tiny_paths, monkeypatch, err):
    """A full disk (or read-only / unwritable results) while the filter writes its outputs."""
    import gexflow.plots

    real = gexflow.plots.atomic_path

    def failing(dest):
        if str(dest).endswith(".png"):
            raise OSError(err, os.strerror(err), str(tmp_path / "out" / ".filter_qc.png.x.part.png"))
        return real(dest)

    monkeypatch.setattr(gexflow.plots, "atomic_path", failing)
    run, rule, out = run_data_stages(tmp_path, tiny_paths, *write_inputs(tmp_path))
    assert rule == "filter_normalise" and run.code == 1 and len(run.errors) == 1 and "Traceback" not in run.log, \
        run.log
    msg = run.errors[0]
    assert str(tmp_path) in msg and "field '(output directory)'" in msg and "MB free" in msg and "Fix:" in msg, msg
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------------------------------- split_samples
def split_job(tmp_path, tiny_paths, h5ad, **params):
    p = tiny_paths.generate.split_params("tiny_rcc")
    p.update(params)
    return make_job("split_samples", input={"h5ad": h5ad}, output={"split": tmp_path / "out" / "split.tsv"},
                    params=p, wildcards={"dataset": "kirc_subset"}, log=tmp_path / "logs" / "split.log")


@pytest.mark.parametrize("params,field,words", [
    ({"label": ["tumour_status"]}, "tumour_status", ["split label or patient column"]),
    ({"label": ["condition", "no_such_column"]}, "no_such_column", []),
    ({"patient_column": "patient"}, "patient", []),
    ({"folds": 100}, "split.folds", ["100 folds, but class"]),
], ids=["label_not_a_column", "second_label_not_a_column", "patient_column_missing", "more_folds_than_patients"])
def test_split_stage_bad_settings(tmp_path, tiny_paths, kirc_filtered, params, field, words):
    from gexflow.stages.split import split_samples

    file_part = "config" if field == "split.folds" else str(kirc_filtered)
    run = run_as_rule(split_job(tmp_path, tiny_paths, kirc_filtered, **params), split_samples)
    msg = assert_one_clear_error(run, file_part, field, words=words, out=tmp_path / "out", root=tmp_path)
    assert message_body(msg, "split_samples").startswith(f"{file_part}: field '{field}'")


# ------------------------------------------------------------------------------------- evaluate_generator
def evaluate_job(tmp_path, tiny_paths, h5ad, genes, split):
    out = tmp_path / "out"
    return make_job("evaluate_generator", input={"h5ad": h5ad, "genes": genes, "split": split},
                    output={"metrics": out / "metrics.tsv"},
                    params={**tiny_paths.generate.evaluation_params("tiny_rcc", "real_train"), "runs": [[0, 0]]},
                    wildcards={"experiment": "tiny_rcc", "model": "real_train"}, config=RUNTIME,
                    log=tmp_path / "logs" / "evaluate.log")


def test_split_file_that_does_not_match_the_samples(tmp_path, tiny_paths, kirc_filtered, kirc_gene_sets):
    """A split that is well formed (and recorded) but of other samples."""
    from gexflow.stages.generate import evaluate_generator

    split = tmp_path / "in" / "split.tsv"
    write_tsv(pd.DataFrame({"sample_id": ["x", "y", "z"], "class": ["a", "a", "a"], "group": ["x", "y", "z"],
                            "fold_0": ["train", "val", "test"]}), split)
    run = run_as_rule(evaluate_job(tmp_path, tiny_paths, kirc_filtered, kirc_gene_sets["kegg_rcc"], split),
                      evaluate_generator)
    msg = assert_one_clear_error(run, str(split), "sample_id", words=["does not match", "--forcerun split_samples"],
                                 out=tmp_path / "out", root=tmp_path)
    assert message_body(msg, "evaluate_generator").startswith(f"{split}: field 'sample_id'")


def test_selected_gene_missing_from_the_data(tmp_path, tiny_paths, kirc_filtered, kirc_split):
    from gexflow.stages.generate import evaluate_generator

    genes = tmp_path / "in" / "genes.tsv"
    write_tsv(pd.DataFrame({"gene_id": ["NOT_A_GENE"], "symbol": [""], "source": ["x"]}), genes)
    run = run_as_rule(evaluate_job(tmp_path, tiny_paths, kirc_filtered, genes, kirc_split), evaluate_generator)
    msg = assert_one_clear_error(run, str(genes), "gene_id", words=["NOT_A_GENE"], out=tmp_path / "out",
                                 root=tmp_path)
    assert message_body(msg, "evaluate_generator").startswith(f"{genes}: field 'gene_id'")


# ------------------------------------------------------------------------------------------------ call_degs
def deg_run(tmp_path, tiny_paths, h5ad, **settings):
    from gexflow.stages.deg import call_degs

    params = tiny_paths.deg_params("kirc_subset")
    params["deg"].update(settings)
    out = tmp_path / "out"
    outputs = {"table": out / "degs.tsv", "summary": out / "summary.tsv", "volcano": out / "volcano.png"}
    job = make_job("call_degs", input={"h5ad": h5ad}, output=outputs, params=params,
                   wildcards={"dataset": "kirc_subset"}, log=tmp_path / "logs" / "deg.log")
    return run_as_rule(job, call_degs), outputs


def test_empty_deg_set_is_not_a_crash(tmp_path, tiny_paths, kirc_filtered):
    from gexflow.errors import InputError
    from gexflow.selection import select_degs

    run, outs = deg_run(tmp_path, tiny_paths, kirc_filtered, log2fc_threshold=50.0)
    assert run.code == 0 and not run.errors and "the DEG set is empty" in run.log, run.log
    summary = pd.read_csv(outs["summary"], sep="\t", index_col=0)["value"]
    assert int(summary["deg_both"]) == 0 and "empty DEG set" in summary["note"]
    assert outs["volcano"].exists()
    with pytest.raises(InputError, match="loosen"):
        select_degs(pd.read_csv(outs["table"], sep="\t"), None, "bonferroni")


def test_bad_deg_input_writes_nothing(tmp_path, tiny_paths, kirc_filtered):
    run, _ = deg_run(tmp_path, tiny_paths, kirc_filtered, tumour_label="Tumour")
    msg = assert_one_clear_error(run, str(kirc_filtered), "obs.condition", words=["labelled 'Tumour'"],
                                 out=tmp_path / "out", root=tmp_path)
    assert message_body(msg, "call_degs").startswith(f"{kirc_filtered}: field 'obs.condition'")


def test_stage_reports_design_and_counts(tmp_path, tiny_paths, kirc_filtered):
    run, outs = deg_run(tmp_path, tiny_paths, kirc_filtered)
    assert run.code == 0 and not run.errors, run.log
    summary = pd.read_csv(outs["summary"], sep="\t", index_col=0)["value"]
    table = pd.read_csv(outs["table"], sep="\t")
    assert summary["design"] == "paired" and int(summary["matched_pairs"]) == 72
    assert int(summary["deg_test"]) == int(table["deg_test"].sum())
    assert int(summary["deg_both"]) == int(table["deg"].sum()) > 0
    assert list(table.columns[:4]) == ["gene_id", "symbol", "statistic", "pvalue"]
    for col in ("p_bonferroni", "p_bh", "log2fc", "mean_group_a", "mean_group_b", "n_group_a", "n_group_b",
                "deg_test", "deg_fold_change", "deg"):
        assert col in table.columns
    assert summary["group_a"] == "tumor" and summary["description"] == "tumour vs normal"
    assert int(summary["samples_used"]) == 144 and int(summary["samples_unused"]) == 0
    assert "none unused" in summary["unused_detail"]
    assert summary["p_floor_reachable"] == "True" and "warning" not in summary.index


def _without_normals(tmp_path, h5ad, n):
    """The filtered KIRC subset with the normal sample of its first `n` patients dropped: a paired
    cohort with `n` unpaired tumours."""
    import anndata as ad

    a = ad.read_h5ad(h5ad)
    patients = sorted(a.obs["patient_barcode"].astype(str).unique())[:n]
    drop = (a.obs["condition"].astype(str) == "normal") & a.obs["patient_barcode"].astype(str).isin(patients)
    out = tmp_path / "in" / "unpaired_tumours.h5ad"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_h5ad(a[~drop.to_numpy()].copy(), out)
    return out, patients


def test_paired_design_counts_the_tumours_without_a_normal(tmp_path, tiny_paths, kirc_filtered):
    h5ad, _ = _without_normals(tmp_path, kirc_filtered, 9)
    run, outs = deg_run(tmp_path, tiny_paths, h5ad)
    assert run.code == 0 and not run.errors, run.log
    summary = pd.read_csv(outs["summary"], sep="\t", index_col=0)["value"]
    assert summary["design"] == "paired" and int(summary["matched_pairs"]) == 63
    assert int(summary["n_group_a"]) == 63 and int(summary["n_group_b"]) == 63
    assert int(summary["samples_total"]) == 135 and int(summary["samples_used"]) == 126
    assert int(summary["unused_group_a_no_matched_pair"]) == 9 and int(summary["samples_unused"]) == 9
    text = "9 'tumor' samples without a matched 'normal' sample"
    assert text in summary["unused_detail"] and text in run.log


def test_unpaired_design_uses_every_sample_of_both_groups(tmp_path, tiny_paths, kirc_filtered):
    h5ad, _ = _without_normals(tmp_path, kirc_filtered, 9)
    run, outs = deg_run(tmp_path, tiny_paths, h5ad, design="unpaired")
    assert run.code == 0 and not run.errors, run.log
    summary = pd.read_csv(outs["summary"], sep="\t", index_col=0)["value"]
    assert summary["design"] == "unpaired" and int(summary["n_group_a"]) == 72 and int(summary["n_group_b"]) == 63
    assert int(summary["samples_unused"]) == 0 and "unused_group_a_no_matched_pair" not in summary.index


def test_a_contrast_other_than_tumour_normal_uses_its_group_names(tmp_path, tiny_paths, kirc_filtered, monkeypatch):
    """gender (female vs male) on the KIRC subset: no pairs (a patient has one gender), unpaired;
    every human-facing text names female / male and none says tumour vs normal."""
    import gexflow.plots

    seen = {}
    real = gexflow.plots.volcano_figure

    def spy(table, dest, **kw):
        seen.update(kw)
        real(table, dest, **kw)

    monkeypatch.setattr(gexflow.plots, "volcano_figure", spy)
    run, outs = deg_run(tmp_path, tiny_paths, kirc_filtered, log2fc_threshold=0.5,
                        contrast={"column": "gender", "groups": ["female", "male"]})
    assert run.code == 0 and not run.errors, run.log
    summary = pd.read_csv(outs["summary"], sep="\t", index_col=0)["value"]
    table = pd.read_csv(outs["table"], sep="\t")
    assert summary["group_a"] == "female" and summary["group_b"] == "male" and summary["design"] == "unpaired"
    assert summary["description"] == "female vs male (gender)"
    assert "up in female" in summary["deg_direction"] and "up in male" in summary["deg_direction"]
    assert "female vs" in summary["design_note"] and {"mean_group_a", "n_group_a"} <= set(table.columns)
    assert seen["group_names"] == ("female", "male") and "higher in female" in seen["title"]
    for text in (run.log, seen["title"], " ".join(summary.astype(str))):
        assert "tumour vs normal" not in text and "tumour/normal" not in text and "tumor/normal" not in text


# ----------------------------------------------------------------------------------------- impute_missing
def test_impute_missing_fills_only_the_missing_entries(tmp_path):
    """The staged matrix has two genes the filter dropped for missing values (3 entries in 3
    samples): every entry of those genes is written, the observed ones unchanged, only the
    missing ones flagged and filled, and the card counts them."""
    import anndata as ad

    from gexflow.stages.embed import impute_missing

    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], 8)
    synthetic_values = np.abs(rng.normal(0, 2, size=(3, 8))[np.searchsorted(["a", "b", "c"], groups)]
                              + rng.normal(0, 0.3, size=(24, 8)))
    samples = [f"synthetic_s{i}" for i in range(24)]
    genes = [f"synthetic_g{j}" for j in range(8)]
    write_h5ad(ad.AnnData(X=synthetic_values[:, :6].astype(np.float32),
                          obs=pd.DataFrame({"cohort": groups}, index=samples),
                          var=pd.DataFrame({"symbol": genes[:6]}, index=genes[:6])), tmp_path / "in" / "filtered.h5ad")
    raw = pd.DataFrame(synthetic_values.T, index=pd.Index(genes, name="gene_symbol"), columns=samples)  # log2p1
    raw.iloc[6, [1, 5]] = np.nan
    raw.iloc[7, 9] = np.nan
    raw.to_csv(tmp_path / "in" / "expression.tsv.gz", sep="\t")
    write_sidecar(tmp_path / "in" / "expression.tsv.gz")  # as staging records it
    out = {"values": tmp_path / "out" / "imputed_missing.tsv.gz", "card": tmp_path / "out" / "imputation_card.json"}
    settings = {"sample_dim": 2, "gene_dim": 4, "hidden": [8], "activation": "tanh", "optimiser": "adam", "lr": 0.05,
                "batch_size": 7, "init_sd": 0.1, "epochs": 2, "scale": "log2", "mask_fraction": 0.1,
                "new_sample_epochs": 1, "new_sample_lr": 0.05}
    job = make_job("impute_missing", input={"h5ad": tmp_path / "in" / "filtered.h5ad",
                                            "expression": tmp_path / "in" / "expression.tsv.gz"}, output=out,
                   params={"experiment": {"dataset": "synthetic"}, "dataset": {"scale": "log2p1", "log_offset": None},
                           "size": 2, "settings": settings, "seed": 1,
                           "loop": {"eval_every": 1, "checkpoint_every": 5, "patience": 0}},
                   wildcards={"experiment": "synthetic"}, config=RUNTIME, log=tmp_path / "logs" / "impute.log")
    run = run_as_rule(job, impute_missing)
    assert run.code == 0 and not run.errors, run.log
    table = pd.read_csv(out["values"], sep="\t")
    assert len(table) == 24 * 2 and table["imputed"].sum() == 3
    assert set(table["gene_id"]) == {"synthetic_g6", "synthetic_g7"}
    assert set(table.loc[table["imputed"], "sample_id"]) == {"synthetic_s1", "synthetic_s5", "synthetic_s9"}
    kept = table[~table["imputed"]]
    truth = raw.loc[kept["gene_id"]].to_numpy()[np.arange(len(kept)), [samples.index(s) for s in kept["sample_id"]]]
    np.testing.assert_allclose(kept["log2p1"], truth)
    assert np.isfinite(table.loc[table["imputed"], "log2p1"]).all()
    card = json.loads(out["card"].read_text())
    assert card["n_missing_values"] == 3 and card["n_genes_with_missing"] == 2 and card["samples_with_missing"] == 3


# ---------------------------------------------------------------------------------------- predict_targets
@pytest.fixture(scope="module")
def landmark_model(tmp_path_factory, kirc_filtered, kirc_split, kirc_gene_sets):
    """A ridge model (L1000 landmarks -> 50 targets, fold 0 of the real split) saved as
    train_inference_model saves it; returns (model.pt, the bundle)."""
    from gexflow import inference as I
    from gexflow.experiment import load_dataset
    from gexflow.filtering import ZScore
    from gexflow.models.training import Trainer, save_model
    from gexflow.splits import read_split

    data, _ = load_dataset(kirc_filtered)
    X = data.X
    train, val, _ = read_split(kirc_split, data.obs.index, 0)
    landmarks = I.gene_indices(data.var, kirc_gene_sets["l1000"])
    targets = I.candidate_targets(X, train, landmarks, 50)
    zi, zt = ZScore.fit(X[train][:, landmarks]), ZScore.fit(X[train][:, targets])
    state, _, _ = I.fit_regressor("ridge", {"alphas": [0.1, 1, 10, 100]}, zi.transform(X[train][:, landmarks]),
                                  zt.transform(X[train][:, targets]), zi.transform(X[val][:, landmarks]),
                                  zt.transform(X[val][:, targets]), seed=1,
                                  trainer=Trainer(loop={"eval_every": 1, "patience": 0}, device="cpu",
                                                  device_field="infer.device"))
    bundle = I.model_bundle(state, data.var, landmarks, targets, zi, zt)
    model = tmp_path_factory.mktemp("landmark_model") / "model.pt"
    save_model(bundle, model)
    return model, bundle


def predict_job(tmp_path, model, matrix, policy):
    out = tmp_path / "out"
    spec = {"matrix": str(matrix), "gene_id_column": "gene_symbol", "scale": "linear", "missing_landmarks": policy}
    return make_job("predict_targets", input={"model": model, "matrix": matrix},
                    output={"h5ad": out / "predictions.h5ad", "tsv": out / "predictions.tsv",
                            "summary": out / "summary.json"},
                    params={"spec": spec}, wildcards={"name": "kirp_slice"}, log=tmp_path / "logs" / "predict.log")


def test_predict_input_lacking_landmarks_fails_without_output_or_imputes(tmp_path, landmark_model):
    import anndata as ad

    from gexflow import inference as I
    from gexflow.stages.apply import predict_targets

    model, bundle = landmark_model
    n_in = len(bundle["inputs"])
    real = pd.read_csv(DATA / "kirp_landmarks_6samples.tsv", sep="\t")
    assert set(bundle["input_symbols"]) <= set(real["gene_symbol"])
    dropped = bundle["input_symbols"][:2]
    (tmp_path / "in").mkdir()
    partial = tmp_path / "in" / "partial.tsv"
    real[~real["gene_symbol"].isin(dropped)].to_csv(partial, sep="\t", index=False)
    run = run_as_rule(predict_job(tmp_path, model, partial, "fail"), predict_targets)
    msg = assert_one_clear_error(run, str(partial), "(gene rows)",
                                 words=[f"2 of the model's {n_in} landmarks are missing: {dropped[0]}, {dropped[1]}",
                                        "missing_landmarks: impute"], out=tmp_path / "out", root=tmp_path)
    assert message_body(msg, "predict_targets").startswith(f"{partial}: field '(gene rows)'")

    run = run_as_rule(predict_job(tmp_path, model, partial, "impute"), predict_targets)
    assert run.code == 0 and not run.errors, run.log
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["missing_landmarks"] == 2 and summary["imputed"] == dropped and summary["samples"] == 6
    a = ad.read_h5ad(tmp_path / "out" / "predictions.h5ad")
    assert a.shape == (6, n_in + len(bundle["targets"]))
    assert int(a.var["imputed_landmark"].sum()) == 2 and np.isfinite(a.X).all()

    # the full input gives the same predictions as predict_log2 on the landmarks directly
    full = tmp_path / "in" / "full.tsv"
    real.to_csv(full, sep="\t", index=False)
    run = run_as_rule(predict_job(tmp_path, model, full, "fail"), predict_targets)
    assert run.code == 0 and not run.errors, run.log
    b = ad.read_h5ad(tmp_path / "out" / "predictions.h5ad")
    lm = np.log2(real.set_index("gene_symbol").loc[bundle["input_symbols"]].to_numpy().T + 1)
    np.testing.assert_allclose(b.X[:, n_in:], I.predict_log2(bundle, lm), rtol=1e-5, atol=1e-5)
    tsv = pd.read_csv(tmp_path / "out" / "predictions.tsv", sep="\t")
    assert list(tsv.columns[2:]) == list(real.columns[1:]) and len(tsv) == n_in + len(bundle["targets"])
