"""Bad and unusual input by family, through the real workflow: every case is a dataset of its own
(the real KIRC subset of tests/data, changed in one way), all run in ONE snakemake call with
--keep-going, then each case's logs and outputs are checked for its class:

- a clear error: exactly one ERROR line across the case's logs, naming the user's file (never a
  staged copy), the field and a fix; no traceback; nothing left in the case's filter directory;
- a correct result: the filter's outputs, checked for what the input meant.

Cases the config check refuses never reach a job: those are checked through the same function
the Snakefile calls (config.validate_config), one line naming the config field. Across the whole
run: no empty log for a failed job, no temporary file left, nothing written outside the working
directory. Families: labels and levels, numerical covariates, gene ids, declared scale, sample
sheet format, matrix format, special files."""

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import KIRC_SAMPLES, KIRC_SUBSET, TINY_CONFIG, make_workdir, snakemake

pytestmark = pytest.mark.workflow


def tables():
    return pd.read_csv(KIRC_SUBSET, sep="\t"), pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)


@dataclass
class Case:
    family: str
    matrix: Callable | None = None  # (path) -> None: writes the user's matrix (default: the real one)
    samples: Callable | None = None  # (path) -> None: writes the user's sheet
    dataset: dict = field(default_factory=dict)  # overrides of the dataset entry
    error: tuple | None = None  # ("matrix" | "samples" | "config", field, [words]) or None
    check: Callable | None = None  # (AnnData, filter_steps DataFrame) -> None, for a correct result
    matrix_name: str = "matrix.tsv.gz"
    samples_name: str = "samples.tsv"


def write_matrix(df, *, sep="\t", encoding="utf-8", bom=False, crlf=False):
    def write(path):
        text = df.to_csv(sep=sep, index=False, lineterminator="\r\n" if crlf else "\n")
        data = (("\ufeff" if bom else "") + text).encode(encoding)
        path.write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
    return write


def write_sheet(df, **kw):
    return write_matrix(df, **kw)


def edit_sheet(fn):
    _, s = tables()
    fn(s)
    return write_sheet(s)


def edit_matrix(fn):
    e, _ = tables()
    e = fn(e)
    return write_matrix(e)


def set_rows(col, mask_fn, value, n=None):
    def fn(s):
        idx = s.index[mask_fn(s)]
        s.loc[idx if n is None else idx[:n], col] = value
    return fn


def conditions(expected):
    def check(a, steps):
        assert dict(a.obs["condition"].astype(str).value_counts()) == expected, a.obs["condition"].value_counts()
    return check


def has_gene(name):
    def check(a, steps):
        assert name in set(a.var_names) | set(a.var.get("symbol", [])), name
    return check


def genders(a, steps):
    assert set(a.obs["gender"].astype(str)) == {"male", "female"}, set(a.obs["gender"])


def n_samples(n):
    def check(a, steps):
        assert a.n_obs == n, a.n_obs
    return check


def _log_to_linear(e):  # the real values are log2(x + 0.25): back to x
    e = e.copy()
    e.iloc[:, 1:] = np.maximum(2.0 ** e.iloc[:, 1:] - 0.25, 0)
    return e


def _log2p1(e):
    e = _log_to_linear(e)
    e.iloc[:, 1:] = np.log2(e.iloc[:, 1:] + 1)
    return e


def _counts(e):
    e = _log_to_linear(e)
    e.iloc[:, 1:] = np.round(e.iloc[:, 1:] * 50)
    return e


def _gene(row, value):
    def fn(e):
        e = e.copy()
        e.iloc[row, 0] = value
        return e
    return fn


def _case_duplicate(e):
    r = e.iloc[[5]].copy()
    r.iloc[0, 0] = str(r.iloc[0, 0]).lower()
    r.iloc[0, 1:] = r.iloc[0, 1:].astype(float) + 0.5
    return pd.concat([e, r])


def _fifo(path):
    os.mkfifo(path)


def _directory(path):
    path.mkdir()


N_TUMOUR = N_NORMAL = 72
TUMOUR = lambda s: s["condition"] == "tumor"  # noqa: E731
NORMAL = lambda s: s["condition"] == "normal"  # noqa: E731
AGE = "age_at_diagnosis_years"

CASES = {
    # -------------------------------------------------------------- labels and levels
    "label_trailing_space": Case("labels", samples=edit_sheet(set_rows("condition", TUMOUR, "tumor ")),
                                 check=conditions({"tumor": 72, "normal": 72})),
    "label_leading_space": Case("labels", samples=edit_sheet(set_rows("condition", NORMAL, " normal")),
                                check=conditions({"tumor": 72, "normal": 72})),
    "label_nbsp": Case("labels", samples=edit_sheet(set_rows("condition", NORMAL, "normal\u00a0", n=7)),
                       check=conditions({"tumor": 72, "normal": 72})),
    "label_case_variant": Case("labels", samples=edit_sheet(set_rows("condition", NORMAL, "Normal", n=5)),
                               error=("samples", "condition", ["'Normal'", "'normal'", "condition_map"])),
    "label_upper_case": Case("labels", samples=edit_sheet(set_rows("condition", TUMOUR, "TUMOR", n=3)),
                             error=("samples", "condition", ["'TUMOR'", "'tumor'"])),
    "label_case_variant_mapped": Case("labels", samples=edit_sheet(set_rows("condition", NORMAL, "Normal", n=5)),
                                      dataset={"condition_map": {"Normal": "normal"}},
                                      check=conditions({"tumor": 72, "normal": 72})),
    "label_include_one_level": Case("labels", dataset={"include": {"condition": ["tumor"]}},
                                    check=conditions({"tumor": 72})),
    "label_exclude_with_spaces": Case("labels", samples=edit_sheet(set_rows("condition", NORMAL, " normal ")),
                                      dataset={"exclude": {"condition": ["normal"]}},
                                      check=conditions({"tumor": 72})),
    "covariate_level_space": Case("labels", samples=edit_sheet(set_rows("gender", lambda s: s["gender"] == "male",
                                                                        "male  ", n=4)), check=genders),
    "covariate_case_variant": Case("labels", samples=edit_sheet(set_rows("gender", lambda s: s["gender"] == "male",
                                                                         "MALE", n=4)),
                                   error=("samples", "gender", ["'male'", "'MALE'"])),
    "sample_id_spaces": Case("labels", samples=edit_sheet(
        lambda s: s.__setitem__("sample_barcode", " " + s["sample_barcode"] + " ")), check=n_samples(144)),
    # ---------------------------------------------------------------- numerical covariates
    "age_inf": Case("covariates", samples=edit_sheet(set_rows(AGE, TUMOUR, "inf", n=1)),
                    error=("samples", AGE, ["inf"])),
    "age_minus_inf": Case("covariates", samples=edit_sheet(set_rows(AGE, NORMAL, "-inf", n=1)),
                          error=("samples", AGE, ["inf"])),
    "age_infinity_word": Case("covariates", samples=edit_sheet(set_rows(AGE, TUMOUR, "Infinity", n=1)),
                              error=("samples", AGE, ["Infinity"])),
    "age_overflow": Case("covariates", samples=edit_sheet(set_rows(AGE, TUMOUR, "1e400", n=1)),
                         error=("samples", AGE, ["1e400"])),
    "age_with_unit": Case("covariates", samples=edit_sheet(set_rows(AGE, TUMOUR, "61 years", n=1)),
                          error=("samples", AGE, ["61 years"])),
    # ------------------------------------------------------------------------- gene ids
    "gene_id_NA": Case("gene ids", matrix=edit_matrix(_gene(3, "NA")), check=has_gene("NA")),
    "gene_id_null": Case("gene ids", matrix=edit_matrix(_gene(4, "NULL")), check=has_gene("NULL")),
    "gene_id_none": Case("gene ids", matrix=edit_matrix(_gene(6, "None")), check=has_gene("None")),
    "gene_id_spaces": Case("gene ids", matrix=edit_matrix(_gene(8, " MYGENE1 ")), check=has_gene("MYGENE1")),
    "gene_id_case_duplicate": Case("gene ids", matrix=edit_matrix(_case_duplicate),
                                   error=("matrix", "gene_symbol", ["case"])),
    "gene_id_empty": Case("gene ids", matrix=edit_matrix(_gene(9, "")), error=("matrix", "gene_symbol", [])),
    # ---------------------------------------------------------------------- declared scale
    "linear_declared_log2p1": Case("scale", matrix=edit_matrix(_log_to_linear), dataset={"scale": "log2p1"},
                                   error=("matrix", "scale", ["linear"])),
    "linear_declared_log2_offset": Case("scale", matrix=edit_matrix(_log_to_linear),
                                        error=("matrix", "scale", ["linear"])),
    "counts_declared_log2p1": Case("scale", matrix=edit_matrix(_counts), dataset={"scale": "log2p1"},
                                   error=("matrix", "scale", ["counts"])),
    "log2p1_declared_linear": Case("scale", matrix=edit_matrix(_log2p1), dataset={"scale": "linear"},
                                   error=("matrix", "scale", ["log2p1"])),
    "log2p1_declared_counts": Case("scale", matrix=edit_matrix(_log2p1), dataset={"scale": "counts"},
                                   error=("matrix", "scale", ["log"])),
    "log_offset_declared_linear": Case("scale", dataset={"scale": "linear"}, error=("matrix", "scale", ["log"])),
    "negative_count": Case("scale", matrix=edit_matrix(lambda e: _counts(e).assign(
        **{e.columns[7]: lambda d: d[e.columns[7]].where(d.index != 10, -4)})), dataset={"scale": "counts"},
        error=("matrix", "scale", ["-4"])),
    "counts_ok": Case("scale", matrix=edit_matrix(_counts), dataset={"scale": "counts", "filter": {}},
                      check=n_samples(144)),
    "log2p1_ok": Case("scale", matrix=edit_matrix(_log2p1), dataset={"scale": "log2p1"}, check=n_samples(144)),
    "linear_ok": Case("scale", matrix=edit_matrix(_log_to_linear), dataset={"scale": "linear"},
                      check=n_samples(144)),
    # ------------------------------------------------------------------ sample sheet format
    "sheet_csv": Case("sheet format", samples=write_sheet(tables()[1], sep=","),
                      error=("samples", "(whole file)", ["comma"])),
    "sheet_semicolon": Case("sheet format", samples=write_sheet(tables()[1], sep=";"),
                            error=("samples", "(whole file)", ["semicolon"])),
    "sheet_header_only": Case("sheet format", samples=lambda p: p.write_text(
        "\t".join(tables()[1].columns) + "\n"), error=("samples", "(rows)", ["no sample"])),
    "sheet_bom": Case("sheet format", samples=write_sheet(tables()[1], bom=True), check=n_samples(144)),
    "sheet_crlf": Case("sheet format", samples=write_sheet(tables()[1], crlf=True), check=n_samples(144)),
    "sheet_gzipped": Case("sheet format", samples=write_sheet(tables()[1]), samples_name="samples.tsv.gz",
                          check=n_samples(144)),
    "sheet_blank_lines": Case("sheet format", samples=lambda p: p.write_text(
        tables()[1].to_csv(sep="\t", index=False) + "\n\n"), check=n_samples(144)),
    "sheet_quoted": Case("sheet format", samples=lambda p: p.write_text(
        tables()[1].to_csv(sep="\t", index=False, quoting=1)), check=n_samples(144)),
    "sheet_latin1": Case("sheet format", samples=lambda p: p.write_bytes(
        tables()[1].assign(gender=lambda d: d["gender"].where(d.index != 0, "M\u00c4LE")).to_csv(
            sep="\t", index=False).encode("latin-1")), error=("samples", "(whole file)", ["UTF-8"])),
    # ----------------------------------------------------------------------- matrix format
    "matrix_csv": Case("matrix format", matrix=write_matrix(tables()[0], sep=","),
                       error=("matrix", "(whole file)", ["comma"])),
    "matrix_bom": Case("matrix format", matrix=write_matrix(tables()[0], bom=True), check=n_samples(144)),
    "matrix_crlf": Case("matrix format", matrix=write_matrix(tables()[0], crlf=True), check=n_samples(144)),
    "matrix_plain_text": Case("matrix format", matrix=write_matrix(tables()[0]), matrix_name="matrix.tsv",
                              check=n_samples(144)),
    "matrix_latin1": Case("matrix format", matrix=lambda p: p.write_bytes(gzip.compress(
        tables()[0].assign(gene_symbol=lambda d: d["gene_symbol"].where(d.index != 2, "G\u00c4NE")).to_csv(
            sep="\t", index=False).encode("latin-1"))), error=("matrix", "(whole file)", ["UTF-8"])),
    "matrix_truncated": Case("matrix format", matrix=lambda p: p.write_bytes(KIRC_SUBSET.read_bytes()[:30000]),
                             error=("matrix", "(whole file)", ["truncated"])),
    "matrix_header_only": Case("matrix format", matrix=lambda p: p.write_bytes(gzip.compress(
        ("\t".join(tables()[0].columns) + "\n").encode())), error=("matrix", "(rows)", [])),
    "matrix_value_NA_text": Case("matrix format", matrix=edit_matrix(lambda e: e.astype({e.columns[4]: object}).assign(
        **{e.columns[4]: lambda d: d[e.columns[4]].where(d.index != 7, "NA")})),
        error=("matrix", tables()[0].columns[4], ["missing"])),
    "matrix_comma_decimal": Case("matrix format", matrix=edit_matrix(lambda e: e.astype({e.columns[4]: object}).assign(
        **{e.columns[4]: lambda d: d[e.columns[4]].where(d.index != 7, "3,5")})),
        error=("matrix", tables()[0].columns[4], ["'3,5'"])),
    "sheet_trailing_tabs": Case("sheet format", samples=lambda p: p.write_text(
        "".join(line + "\t\n" for line in tables()[1].to_csv(sep="\t", index=False).splitlines())),
        check=n_samples(144)),
    "sheet_lacks_a_sample": Case("sheet format", samples=write_sheet(tables()[1].iloc[1:]), check=n_samples(143)),
    # ------------------------------------------------------------------ config values per dataset
    "log_offset_zero": Case("config meaning", dataset={"log_offset": 0},
                            error=("config", "datasets.log_offset_zero.log_offset", [])),
    "unknown_scale": Case("config meaning", dataset={"scale": "log10"},
                          error=("config", "datasets.unknown_scale.scale", ["log10"])),
    "probe_ids_without_annotation": Case("config meaning", dataset={"gene_id_type": "probe"},
                                         error=("config", "datasets.probe_ids_without_annotation.probe_annotation",
                                                [])),
    "matrix_path_missing": Case("config meaning", matrix=lambda p: None,
                                error=("config", "datasets.matrix_path_missing.matrix", ["does not exist"])),
    # ------------------------------------------------------------------------ special files
    "matrix_fifo": Case("special files", matrix=_fifo, matrix_name="matrix.tsv",
                        error=("config", "datasets.matrix_fifo.matrix", ["FIFO"])),
    "matrix_directory": Case("special files", matrix=_directory, matrix_name="matrix_dir",
                             error=("config", "datasets.matrix_directory.matrix", ["directory"])),
    "sheet_fifo": Case("special files", samples=_fifo, error=("config", "datasets.sheet_fifo.samples", ["FIFO"])),
    "sheet_directory": Case("special files", samples=_directory, samples_name="sheet_dir",
                            error=("config", "datasets.sheet_directory.samples", ["directory"])),
}


def dataset_entry(tiny, name, case, root):
    d = root / "cases" / name
    d.mkdir(parents=True)
    matrix, samples = d / case.matrix_name, d / case.samples_name
    (case.matrix or write_matrix(tables()[0]))(matrix)
    (case.samples or write_sheet(tables()[1]))(samples)
    entry = {**tiny["datasets"]["kirc_subset"], "matrix": str(matrix), "samples": str(samples), **case.dataset}
    if entry.get("filter") == {}:
        entry.pop("filter")
    return entry, {"matrix": matrix, "samples": samples}


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    from gexflow import config as C
    from gexflow.errors import InputError

    root = tmp_path_factory.mktemp("families")
    work = make_workdir(root / "work")
    tiny = yaml.safe_load(TINY_CONFIG.read_text())
    base = {**tiny, "deg": {**tiny["deg"], "datasets": []}, "select": {**tiny["select"], "datasets": []}}
    for stage in ("generate", "infer", "embed"):
        base[stage] = {**tiny[stage], "run": []}
    base["embed"].pop("embed_new", None)
    base["infer"].pop("predict", None)
    files, refused, batch = {}, {}, {}
    for name, case in CASES.items():
        entry, files[name] = dataset_entry(tiny, name, case, root)
        one = {**base, "run": {"datasets": [name]}, "datasets": {name: entry}}
        cwd = os.getcwd()
        os.chdir(work)
        try:
            C.validate_config(yaml.safe_load(yaml.safe_dump(one)), "cases.yaml")
            batch[name] = entry
        except InputError as e:
            refused[name] = e
        finally:
            os.chdir(cwd)
    cfg = {**base, "run": {"datasets": sorted(batch)}, "datasets": batch}
    path = work / "cases.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = sorted(p.name for p in root.iterdir())
    r = snakemake(work, "--cores", 2, "--keep-going", "--configfile", path, "--replace-workflow-config",
                  timeout=1500)
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written beside the working directory
    return work, files, refused, r


def case_logs(work, name) -> list[Path]:
    return sorted((work / "logs" / name).glob("*.log"))


def test_the_suite_covers_every_family():
    assert len(CASES) >= 60 and len({c.family for c in CASES.values()}) >= 8


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_case(family_run, name):
    work, files, refused, run = family_run
    case = CASES[name]
    if name in refused:
        e = refused[name]
        assert case.error and case.error[0] == "config", f"refused before any job: {e}"
        assert e.field == case.error[1] and e.fix, str(e)
        for w in case.error[2]:
            assert w in str(e), (w, str(e))
        return
    logs = case_logs(work, name)
    text = "\n".join(p.read_text() for p in logs)
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if " ERROR " in line]
    filtered = list((work / "results" / name).glob("filter-*/filtered.h5ad"))
    if case.error is None:
        import anndata as ad

        assert not errors and len(filtered) == 1, text[-3000:] or run.stderr[-3000:]
        steps = pd.read_csv(next((work / "results" / name).glob("filter-*/filter_steps.tsv")), sep="\t")
        case.check(ad.read_h5ad(filtered[0]), steps)
        return
    where, fld, words = case.error
    assert where != "config", f"expected a refusal before any job, but it ran: {text[-2000:]}"
    assert len(errors) == 1, text[-3000:] or run.stderr[-3000:]
    msg = errors[0]
    assert f"{files[name][where]}: field '{fld}'" in msg and "Fix:" in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    assert not [p for p in (work / "results" / name).glob("filter-*/*")], "partial filter output"


def test_no_failed_job_has_an_empty_log_and_no_temporary_file_is_left(family_run):
    work, _, _, run = family_run
    for p in (work / "logs").rglob("*.log"):
        assert p.stat().st_size > 0, p
    assert not [p for p in (work / "results").rglob("*") if ".part" in p.name]
