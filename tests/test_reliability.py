"""Bad input and faults, case by case, run the way a rule runs them (gexflow.runner.run_step):
each case exits with status 1 and exactly one error line that names the file, the field and the
fix, with no traceback, no partial output and nothing written outside the output directory; or,
where the input is valid after all (a gzipped sample sheet), the step succeeds.

Inputs are the real KIRC subset in tests/data, damaged in one way per case."""

import errno
import gzip
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from gexflow.config import check_config, check_datasets, load_yaml
from gexflow.runner import run_step
from gexflow.stages.deg import call_degs_stage
from gexflow.stages.download import stage_embedded
from gexflow.stages.filter import filter_dataset
from gexflow.stages.generate import evaluate_stage
from gexflow.stages.split import split_samples_stage

from conftest import KIRC_SAMPLES, KIRC_SUBSET, REPO, TINY_CONFIG

ENTREZ_MAP = REPO / "resources/genesets/entrez_symbol_map_orghs_3.16.tsv.gz"
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
TINY = yaml.safe_load(TINY_CONFIG.read_text())
DS = TINY["datasets"]["kirc_subset"]
PARAMS = dict(min_expression=1.0, min_fraction=0.2, min_library_size=1e6)
DEG = {k: v for k, v in TINY["deg"].items() if k != "datasets"}


class FakeSmk:
    """What run_step reads of the `snakemake` object of a rule script."""

    def __init__(self, log, rule, inputs=()):
        self.log, self.rule, self.input = [str(log)], rule, list(map(str, inputs))


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers, root.level = handlers, level


def run_as_rule(tmp_path, step, rule="filter_normalise", inputs=()):
    """Run `step` as a rule script would; return (exit code, the log's ERROR lines, log text)."""
    log = tmp_path / "logs" / f"{rule}.log"
    code = 0
    try:
        run_step(FakeSmk(log, rule, inputs), lambda smk: step())
    except SystemExit as e:
        code = e.code
    text = log.read_text()
    return code, [line for line in text.splitlines() if " ERROR " in line], text


def assert_one_clear_error(tmp_path, step, file_part, field, rule="filter_normalise", inputs=(), words=()):
    code, errors, text = run_as_rule(tmp_path, step, rule, inputs)
    assert code == 1, text
    assert len(errors) == 1, text
    msg = errors[0]
    assert file_part in msg and f"field '{field}'" in msg and "Fix:" in msg, msg
    assert "Traceback" not in text
    for w in words:
        assert w in msg, (w, msg)
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    outside = {p.name for p in tmp_path.iterdir()} - {"out", "logs", "in"}
    assert not outside, outside
    return msg


# ----------------------------------------------------------------------------------- the filter stage
def real_tables():
    return pd.read_csv(KIRC_SUBSET, sep="\t"), pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)


def write_inputs(tmp_path, expr=None, sheet=None, expr_bytes=None, sheet_bytes=None, sheet_name="samples.tsv"):
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    e, s = real_tables()
    expr = e if expr is None else expr
    sheet = s if sheet is None else sheet
    ef, sf = d / "expr.tsv.gz", d / sheet_name
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


def filter_step(tmp_path, ef, sf, ds=None, params=PARAMS):
    out = tmp_path / "out"
    ds = dict(DS, **(ds or {}))
    return lambda: filter_dataset({"expression": ef, "samples": sf, "entrez_map": ENTREZ_MAP}, ds, params,
                                  h5ad_out=out / "filtered.h5ad", steps_out=out / "steps.tsv",
                                  qc_out=out / "qc.png", name="t")


def gz_bytes(text: str) -> bytes:
    return gzip.compress(text.encode())


def _truncated_gzip():
    return KIRC_SUBSET.read_bytes()[:38000]


def _dup_sample_column():
    e, _ = real_tables()
    cols = list(e.columns)
    e = e.iloc[:, [0, 1, 2, *range(3, e.shape[1])]]
    text = "\t".join(cols[:3] + [cols[2]] + cols[4:]) + "\n"
    text += e.to_csv(sep="\t", index=False, header=False)
    return gz_bytes(text)


def _cell(value, row=11, col=19):
    e, _ = real_tables()
    e = e.astype({e.columns[col]: object})
    e.iloc[row, col] = value
    return e


def _sheet_edit(col, row, value):
    _, s = real_tables()
    s.loc[row, col] = value
    return s


# id -> (inputs for write_inputs, ds overrides, file part, field, words)
FILTER_CASES = {
    "truncated_gzip_matrix": (dict(expr_bytes=_truncated_gzip()), {}, "expr.tsv.gz", "(whole file)", ["truncated"]),
    "empty_matrix_file": (dict(expr_bytes=b""), {}, "expr.tsv.gz", "(whole file)", ["empty"]),
    "empty_gzip_matrix": (dict(expr_bytes=gz_bytes("")), {}, "expr.tsv.gz", "(whole file)", ["empty"]),
    "empty_sample_sheet": (dict(sheet_bytes=b""), {}, "samples.tsv", "(whole file)", ["empty"]),
    "binary_matrix": (dict(expr_bytes=bytes(range(256)) * 40), {}, "expr.tsv.gz", "(whole file)", ["UTF-8"]),
    "latin1_sample_sheet": (dict(sheet_bytes="sample_barcode\tcondition\nS\xe9\ttumor\n".encode("latin-1")), {},
                            "samples.tsv", "(whole file)", ["UTF-8"]),
    "header_only_matrix": (dict(expr_bytes=gz_bytes("gene_symbol\tA\tB\n")), {}, "expr.tsv.gz", "(rows)", []),
    "duplicate_sample_column": (dict(expr_bytes=_dup_sample_column()), {}, "expr.tsv.gz", None, ["more than once"]),
    "duplicate_sheet_column": (dict(sheet_bytes=(lambda s: s.replace("gender", "condition", 1))(
        KIRC_SAMPLES.read_text()).encode()), {}, "samples.tsv", "condition", ["more than once"]),
    "duplicate_gene_ids": (dict(expr=pd.concat([real_tables()[0], real_tables()[0].iloc[[0]]])), {}, "expr.tsv.gz",
                           "gene_symbol", ["duplicate gene ids"]),
    "non_numeric_cell": (dict(expr=_cell("n/a?")), {}, "expr.tsv.gz", None, ["'n/a?'", "data row 12"]),
    "missing_cell": (dict(expr=_cell(np.nan)), {}, "expr.tsv.gz", None, ["missing_values: drop_genes"]),
    "infinite_cell": (dict(expr=_cell(np.inf)), {}, "expr.tsv.gz", None, ["non-finite"]),
    "huge_value_log2p1": (dict(expr=_cell(1e300)), {"scale": "log2p1"}, "expr.tsv.gz", None,
                          ["not finite", "float32"]),
    "negative_value_log2p1": (dict(expr=_cell(-3.0)), {"scale": "log2p1"}, "expr.tsv.gz", None, ["negative"]),
    "negative_value_linear": (dict(expr=_cell(-3.0)), {"scale": "linear"}, "expr.tsv.gz", "scale", []),
    "negative_value_counts": (dict(), {"scale": "counts"}, "expr.tsv.gz", "scale", []),
    "overflow_log2_offset": (dict(expr=_cell(2000.0)), {}, "expr.tsv.gz", None, ["not finite"]),
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
    "nothing_left_after_filter": (dict(), {"filter": {}}, "expr.tsv.gz", "filter.min_expression", []),
    "wrong_gene_id_type": (dict(), {"gene_id_type": "entrez"}, "expr.tsv.gz", "gene_id_type",
                           ["0% of", "expected e.g. 7157"]),
    "exclude_column_not_in_sheet": (dict(), {"exclude": {"tissue": ["biopsy"]}}, "samples.tsv", "tissue", []),
    "include_keeps_nothing": (dict(), {"include": {"condition": ["biopsy"]}}, "samples.tsv", "include", []),
    "probe_annotation_column_missing": (dict(), {"gene_id_type": "probe", "probe_annotation": {
        "file": str(REPO / "resources/geo/GPL97.annot.gz"), "symbol_column": "Symbol"}}, "GPL97.annot.gz",
        "Symbol", []),
}


@pytest.mark.parametrize("case", FILTER_CASES, ids=list(FILTER_CASES))
def test_filter_stage_bad_input(tmp_path, case):
    kwargs, ds, file_part, field, words = FILTER_CASES[case]
    ef, sf = write_inputs(tmp_path, **kwargs)
    params = dict(PARAMS, min_expression=1e6) if case == "nothing_left_after_filter" else PARAMS
    step = filter_step(tmp_path, ef, sf, ds, params)
    if field is None:  # the field is the sample column holding the bad cell: look it up
        code, errors, text = run_as_rule(tmp_path, step)
        assert code == 1 and len(errors) == 1 and "Traceback" not in text, text
        assert file_part in errors[0] and "field '" in errors[0] and "Fix:" in errors[0], errors[0]
        for w in words:
            assert w in errors[0], (w, errors[0])
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    else:
        assert_one_clear_error(tmp_path, step, file_part, field, words=words)


def test_errors_on_staged_copies_name_the_users_file(tmp_path):
    """The filter reads a staged copy under results/; the message names the file the user gave."""
    ef, sf = write_inputs(tmp_path, expr=_cell("oops"))
    user = tmp_path / "in" / "my_cohort_matrix.tsv.gz"
    shutil.copy(ef, user)
    step = filter_step(tmp_path, ef, sf, {"matrix": str(user), "samples": str(sf)})
    sample = real_tables()[0].columns[19]
    msg = assert_one_clear_error(tmp_path, step, "my_cohort_matrix.tsv.gz", sample, words=["staged copy", "'oops'"])
    assert msg.split("filter_normalise: ", 1)[1].startswith(f"{user}: field '{sample}'")


@pytest.mark.parametrize("sheet_name", ["samples.tsv.gz", "samples_crlf.tsv"])
def test_valid_but_unusual_sheets_are_read(tmp_path, sheet_name):
    if sheet_name.endswith(".gz"):
        ef, sf = write_inputs(tmp_path, sheet_name=sheet_name)
    else:
        ef, sf = write_inputs(tmp_path, sheet_bytes=KIRC_SAMPLES.read_text().replace("\n", "\r\n").encode(),
                              sheet_name=sheet_name)
    code, errors, text = run_as_rule(tmp_path, filter_step(tmp_path, ef, sf))
    assert code == 0 and not errors, text
    assert (tmp_path / "out" / "filtered.h5ad").exists()


def test_a_file_that_is_not_geo_soft(tmp_path):
    from gexflow.download import prepare_geo

    d = tmp_path / "in"
    d.mkdir()
    (d / "x.soft").write_text("this is not a SOFT file\n")
    out = tmp_path / "out"
    step = lambda: prepare_geo(d / "x.soft", out / "expression.tsv.gz", out / "samples.tsv")  # noqa: E731
    assert_one_clear_error(tmp_path, step, "x.soft", "(whole file)", "download_dataset", words=["GEO SOFT"])


# ------------------------------------------------------------------------------------ staging
def test_staging_a_truncated_gzip_matrix_fails_at_once(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "m.tsv.gz").write_bytes(_truncated_gzip())
    (d / "s.tsv").write_text(KIRC_SAMPLES.read_text())
    out = tmp_path / "out"
    step = lambda: stage_embedded({"matrix": d / "m.tsv.gz", "samples": d / "s.tsv"},  # noqa: E731
                                  {"expression": out / "expression.tsv.gz", "samples": out / "samples.tsv"})
    assert_one_clear_error(tmp_path, step, "m.tsv.gz", "(whole file)", "stage_embedded_bulk", words=["truncated"])


def test_staging_decompresses_a_gzipped_sample_sheet(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "s.tsv.gz").write_bytes(gzip.compress(KIRC_SAMPLES.read_bytes()))
    out = tmp_path / "out"
    stage_embedded({"matrix": KIRC_SUBSET, "samples": d / "s.tsv.gz"},
                   {"expression": out / "expression.tsv.gz", "samples": out / "samples.tsv"})
    assert (out / "samples.tsv").read_bytes() == KIRC_SAMPLES.read_bytes()


# ----------------------------------------------------------------- intermediates and later stages
@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    """The real KIRC subset through the filter stage once (with its sha256 sidecar)."""
    d = tmp_path_factory.mktemp("filtered")
    filter_dataset({"expression": KIRC_SUBSET, "samples": KIRC_SAMPLES, "entrez_map": ENTREZ_MAP}, DS, PARAMS,
                   h5ad_out=d / "filtered.h5ad", steps_out=d / "steps.tsv", qc_out=d / "qc.png", name="kirc_subset")
    return d / "filtered.h5ad"


def _copy_intermediate(filtered, tmp_path, damage=None):
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    dest = d / "filtered.h5ad"
    shutil.copy(filtered, dest)
    shutil.copy(filtered.with_name(".filtered.h5ad.sha256"), d / ".filtered.h5ad.sha256")
    if damage == "truncate":
        dest.write_bytes(dest.read_bytes()[:5000])
    elif damage == "flip":
        data = bytearray(dest.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dest.write_bytes(bytes(data))
    elif damage == "truncate_unrecorded":
        dest.write_bytes(dest.read_bytes()[:5000])
        (d / ".filtered.h5ad.sha256").unlink()
    return dest


def deg_step(tmp_path, h5ad):
    out = tmp_path / "out"
    return lambda: call_degs_stage(h5ad, DS, DEG, table_out=out / "degs.tsv", summary_out=out / "summary.tsv",
                                   volcano_out=out / "volcano.png", name="t")


@pytest.mark.parametrize("damage", ["truncate", "flip", "truncate_unrecorded"])
def test_damaged_intermediate_names_the_step_to_rerun(tmp_path, filtered, damage):
    h5ad = _copy_intermediate(filtered, tmp_path, damage)
    assert_one_clear_error(tmp_path, deg_step(tmp_path, h5ad), "filtered.h5ad", "(whole file)", "call_degs",
                           words=["--forcerun filter_normalise"])


def split_step(tmp_path, h5ad, **kw):
    args = dict(label="condition", patient_column="patient_barcode", folds=3, val_fraction=0.2, seed=0)
    args.update(kw)
    return lambda: split_samples_stage(h5ad, out=tmp_path / "out" / "split.tsv", **args)


@pytest.mark.parametrize("kw,field,words", [
    ({"label": "tumour_status"}, "tumour_status", ["split label or patient column"]),
    ({"label": ["condition", "no_such_column"]}, "no_such_column", []),
    ({"patient_column": "patient"}, "patient", []),
    ({"folds": 100}, "split.folds", ["100 folds, but class"]),
], ids=["label_not_a_column", "second_label_not_a_column", "patient_column_missing", "more_folds_than_patients"])
def test_split_stage_bad_settings(tmp_path, filtered, kw, field, words):
    h5ad = _copy_intermediate(filtered, tmp_path)
    file_part = "config" if field == "split.folds" else "filtered.h5ad"
    assert_one_clear_error(tmp_path, split_step(tmp_path, h5ad, **kw), file_part, field, "split_samples",
                           words=words)


def _first_gene(h5ad):
    import anndata as ad

    return str(ad.read_h5ad(h5ad, backed="r").var_names[0])


def test_split_file_that_does_not_match_the_samples(tmp_path, filtered):
    h5ad = _copy_intermediate(filtered, tmp_path)
    split = tmp_path / "in" / "split.tsv"
    pd.DataFrame({"sample_id": ["x", "y"], "class": ["a", "b"], "group": ["x", "y"],
                  "fold_0": ["train", "test"]}).to_csv(split, sep="\t", index=False)
    genes = tmp_path / "in" / "genes.tsv"
    gene = _first_gene(filtered)
    pd.DataFrame({"gene_id": [gene], "symbol": [gene], "source": ["x"]}).to_csv(genes, sep="\t", index=False)
    exp = {"dataset": "kirc_subset", "genes": "g", "label": "condition"}
    step = lambda: evaluate_stage({"h5ad": h5ad, "genes": genes, "split": split}, exp=exp,  # noqa: E731
                                  model="real_train", folds=[0], evaluation=TINY["generate"]["evaluation"], seed=0,
                                  out=tmp_path / "out" / "metrics.tsv")
    assert_one_clear_error(tmp_path, step, "split.tsv", "sample_id", "evaluate_generator", words=["rerun"])


def test_selected_gene_missing_from_the_data(tmp_path, filtered):
    h5ad = _copy_intermediate(filtered, tmp_path)
    genes = tmp_path / "in" / "genes.tsv"
    pd.DataFrame({"gene_id": ["NOT_A_GENE"], "symbol": [""], "source": ["x"]}).to_csv(genes, sep="\t", index=False)
    exp = {"dataset": "kirc_subset", "genes": "g", "label": "condition"}
    step = lambda: evaluate_stage({"h5ad": h5ad, "genes": genes, "split": genes}, exp=exp,  # noqa: E731
                                  model="real_train", folds=[0], evaluation=TINY["generate"]["evaluation"], seed=0,
                                  out=tmp_path / "out" / "metrics.tsv")
    assert_one_clear_error(tmp_path, step, "genes.tsv", "gene_id", "evaluate_generator", words=["NOT_A_GENE"])


# --------------------------------------------------------------------------- storage faults
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["disk_full", "read_only", "denied"])
def test_storage_faults_give_one_line_naming_the_directory(tmp_path, monkeypatch, err):
    """A full disk (or read-only / unwritable results) while the filter writes its outputs."""
    import gexflow.io

    real = gexflow.io.atomic_path

    def failing(dest):
        raise OSError(err, __import__("os").strerror(err), str(tmp_path / "out" / ".filtered.h5ad.x.part"))

    monkeypatch.setattr(gexflow.io, "atomic_path", lambda dest: failing(dest) if str(dest).endswith(".png")
                        else real(dest))
    import gexflow.plots

    monkeypatch.setattr(gexflow.plots, "atomic_path", gexflow.io.atomic_path)
    ef, sf = write_inputs(tmp_path)
    code, errors, text = run_as_rule(tmp_path, filter_step(tmp_path, ef, sf), inputs=[ef, sf])
    assert code == 1 and len(errors) == 1 and "Traceback" not in text, text
    msg = errors[0]
    assert str(tmp_path) in msg and "field '(output directory)'" in msg and "MB free" in msg and "Fix:" in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ".hidden", "x y", "-rf"])
def test_hostile_dataset_names_are_refused_by_the_schema(name):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["datasets"][name] = cfg["datasets"]["kirc_subset"]
    cfg["run"]["datasets"] = [name]
    with pytest.raises(Exception) as e:
        check_config(cfg, SCHEMA, "my.yaml")
    assert "field 'datasets'" in str(e.value) and "my.yaml" in str(e.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "my.yaml"
    bad.write_text("seed: 7\nrun:\n  datasets: [kirc_subset\nfilter:\n  min_fraction: 0.2\n")
    with pytest.raises(Exception) as e:
        load_yaml(bad)
    assert "my.yaml" in str(e.value) and "line " in str(e.value) and "Fix:" in str(e.value)
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("seed: 7\nrun:\n\tdatasets: [a]\n")
    with pytest.raises(Exception, match=r"tabs.yaml: field 'line 3, column 1'"):
        load_yaml(tabs)


def test_unknown_model_and_run_folds_over_folds(tmp_path):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["generate"]["experiments"]["tiny_rcc"]["settings"] = {"gan9000": {}}
    with pytest.raises(Exception, match="field 'generate.experiments.tiny_rcc.settings.gan9000'"):
        check_datasets(cfg, "my.yaml")
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["generate"]["run_folds"] = 5
    with pytest.raises(Exception, match="field 'generate.run_folds'.*split.folds"):
        check_datasets(cfg, "my.yaml")
