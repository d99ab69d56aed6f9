"""Bad input stops with one message naming the file, the field and the fix, and writes nothing."""

import gzip

import pandas as pd
import pytest
import yaml

from gexflow.config import check_config, check_datasets
from gexflow.errors import InputError
from gexflow.stages.filter import filter_dataset

from conftest import KIRC_SAMPLES, KIRC_SUBSET, REPO, TINY_CONFIG

ENTREZ_MAP = REPO / "resources/genesets/entrez_symbol_map_orghs_3.16.tsv.gz"
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DS = yaml.safe_load(TINY_CONFIG.read_text())["datasets"]["kirc_subset"]
PARAMS = dict(min_expression=1.0, min_fraction=0.2, min_library_size=1e6)


def _real_tables():
    return pd.read_csv(KIRC_SUBSET, sep="\t"), pd.read_csv(KIRC_SAMPLES, sep="\t", dtype=str)


def _run(tmp_path, expr, sheet, ds=DS, params=PARAMS):
    ef, sf = tmp_path / "expr.tsv.gz", tmp_path / "samples.tsv"
    with gzip.open(ef, "wt") as fh:
        expr.to_csv(fh, sep="\t", index=False)
    sheet.to_csv(sf, sep="\t", index=False)
    out = tmp_path / "out"
    outputs = dict(h5ad_out=out / "filtered.h5ad", steps_out=out / "steps.tsv", qc_out=out / "qc.png")
    try:
        filter_dataset({"expression": ef, "samples": sf, "entrez_map": ENTREZ_MAP}, ds, params, name="t", **outputs)
    finally:
        # Whatever happened, no partial output may be left behind.
        leftovers = list(out.iterdir()) if out.exists() else []
    return outputs, leftovers


def _expect_error(tmp_path, expr, sheet, file_part, field, ds=DS, params=PARAMS):
    with pytest.raises(InputError) as e:
        _run(tmp_path, expr, sheet, ds, params)
    msg = str(e.value)
    assert file_part in msg and f"field '{field}'" in msg and "Fix:" in msg, msg
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    return msg


def test_clean_input_writes_all_outputs(tmp_path):
    expr, sheet = _real_tables()
    outputs, leftovers = _run(tmp_path, expr, sheet)
    # the hidden sidecar records the intermediate's sha256 for the stages that read it
    assert sorted(p.name for p in leftovers) == [".filtered.h5ad.sha256", "filtered.h5ad", "qc.png", "steps.tsv"]


def test_sample_not_in_matrix(tmp_path):
    expr, sheet = _real_tables()
    expr = expr.drop(columns=[sheet["sample_barcode"].iloc[0]])
    msg = _expect_error(tmp_path, expr, sheet, "samples.tsv", "sample_barcode")
    assert sheet["sample_barcode"].iloc[0] in msg


def test_duplicate_gene_ids(tmp_path):
    expr, sheet = _real_tables()
    expr = pd.concat([expr, expr.iloc[[0]].assign(**{expr.columns[1]: 0.0})])
    _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", "gene_symbol")


def test_identical_duplicates_collapse_only_when_allowed(tmp_path):
    expr, sheet = _real_tables()
    expr = pd.concat([expr, expr.iloc[[0]]])
    _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", "gene_symbol")
    ok_ds = dict(DS, duplicate_gene_ids="drop_identical")
    _, leftovers = _run(tmp_path, expr, sheet, ds=ok_ds)
    assert len(leftovers) == 4


def test_nan_values(tmp_path):
    expr, sheet = _real_tables()
    expr.iloc[3, 5] = float("nan")
    msg = _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", expr.columns[5])
    assert "missing_values: drop_genes" in msg


def test_negative_values_where_counts_expected(tmp_path):
    expr, sheet = _real_tables()  # log values include -2.00: impossible as counts
    _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", "scale", ds=dict(DS, scale="counts"))


def test_empty_matrix_after_filtering(tmp_path):
    expr, sheet = _real_tables()
    _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", "filter.min_expression",
                  params=dict(PARAMS, min_expression=50.0))


def test_missing_sample_sheet_column(tmp_path):
    expr, sheet = _real_tables()
    _expect_error(tmp_path, expr, sheet.drop(columns=["gender"]), "samples.tsv", "gender")


def test_non_numeric_numerical_covariate(tmp_path):
    expr, sheet = _real_tables()
    sheet.loc[4, "age_at_diagnosis_years"] = "unknown"
    _expect_error(tmp_path, expr, sheet, "samples.tsv", "age_at_diagnosis_years")


def test_non_numeric_sample_column(tmp_path):
    expr, sheet = _real_tables()
    expr[expr.columns[2]] = "x"
    _expect_error(tmp_path, expr, sheet, "expr.tsv.gz", expr.columns[2])


# --- config ------------------------------------------------------------------------------

def _config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_default_config_is_valid():
    cfg = _config()
    check_config(cfg, SCHEMA, "config/config.yaml")
    check_datasets(cfg, "config/config.yaml")


@pytest.mark.parametrize("edit, field, words", [
    (lambda c: c.pop("filter"), "filter", "required"),
    (lambda c: c["filter"].pop("min_fraction"), "filter.min_fraction", "required"),
    (lambda c: c["filter"].__setitem__("min_fraction", 2), "filter.min_fraction", "maximum"),
    (lambda c: c["filter"].__setitem__("min_expression", "high"), "filter.min_expression", "not of type"),
    (lambda c: c["datasets"]["kirc"].__setitem__("scale", "log10"), "datasets.kirc.scale", "log2p1"),
    # an unknown key: the field names the key itself, the fix the closest valid key
    (lambda c: c["datasets"]["kirc"].__setitem__("sclae", "linear"), "datasets.kirc.sclae", "did you mean 'scale'"),
    (lambda c: c.__setitem__("seed", -1), "seed", "minimum"),
])
def test_bad_config_names_the_field(edit, field, words):
    cfg = _config()
    edit(cfg)
    with pytest.raises(InputError) as e:
        check_config(cfg, SCHEMA, "config/config.yaml")
    msg = str(e.value)
    assert msg.startswith("config/config.yaml: field '" + field + "'"), msg
    assert words in msg and "Fix:" in msg


def test_unknown_run_dataset_and_missing_file():
    cfg = _config()
    cfg["run"]["datasets"] = ["kirk"]
    with pytest.raises(InputError, match="run.datasets.*kirc"):
        check_datasets(cfg)
    cfg = _config()
    cfg["datasets"]["kirc"]["matrix"] = "resources/tcga/missing.tsv.gz"
    with pytest.raises(InputError, match="datasets.kirc.matrix.*does not exist"):
        check_datasets(cfg)
