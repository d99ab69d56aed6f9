"""GEO series family files with two platforms: the platform listing before any job, one
platform's samples and probes only, its table as annotation, GEO fields as sheet columns and
the dataset's `derive` / `levels` rules. The SOFT file is SYNTHETIC (values from a seeded
generator, made-up GPL/GSM ids), written in GEO's family-file layout."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from gexflow import geo, sheets
from gexflow.download import prepare_geo
from gexflow.errors import InputError

PLATFORMS = {"GPL90001": ("synthetic array A", 40, 6), "GPL90002": ("synthetic array B", 25, 2)}


def write_synthetic_family(path) -> None:
    """GSE99999_family.soft.gz: ^SERIES, two ^PLATFORM tables, ^SAMPLE sections (synthetic values)."""
    rng = np.random.default_rng(19)
    lines = ["^SERIES = GSE99999", "!Series_title = synthetic two-platform series (test fixture)",
             "!Series_platform_id = GPL90001", "!Series_platform_id = GPL90002"]
    for gpl, (title, n_probes, _) in PLATFORMS.items():
        tag = gpl[-1]
        lines += [f"^PLATFORM = {gpl}", f"!Platform_title = {title}", f"!Platform_data_row_count = {n_probes}",
                  "#ID = probe id", "#Gene Symbol = gene symbol", "#ENTREZ_GENE_ID = Entrez Gene id",
                  "!platform_table_begin", "ID\tGene Symbol\tENTREZ_GENE_ID"]
        lines += [f"P{tag}_{i}\tSYN{i}\t{990000 + i}" for i in range(1, n_probes + 1)]
        lines.append("!platform_table_end")
    for gpl, (_, n_probes, n_samples) in PLATFORMS.items():
        tag = gpl[-1]
        for k in range(n_samples):
            patient, tumour = k // 2 + 1, k % 2 == 1
            gsm = f"GSM9{tag}{k:03d}"
            values = rng.lognormal(6, 0.3, n_probes) * np.where(np.arange(n_probes) < 5, 8 if tumour else 1, 1)
            lines += [f"^SAMPLE = {gsm}", f"!Sample_title = {'C' if tumour else 'N'}{patient}_{tag}",
                      f"!Sample_source_name_ch1 = {'renal carcinoma' if tumour else 'Normal kidney'}",
                      "!Sample_characteristics_ch1 = tissue: kidney",
                      f"!Sample_characteristics_ch1 = age: {50 + patient}",
                      f"!Sample_description = batch = {patient % 2}; synthetic", f"!Sample_platform_id = {gpl}",
                      "#ID_REF = probe id", "#VALUE = synthetic signal", "!sample_table_begin", "ID_REF\tVALUE"]
            lines += [f"P{tag}_{i + 1}\t{v:.3f}" for i, v in enumerate(values)]
            lines.append("!sample_table_end")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture
def family(tmp_path):
    path = tmp_path / "GSE99999_family.soft.gz"
    write_synthetic_family(path)
    return path


RULES = {"derive": {"patient": {"from": "title", "regex": r"^[NC](\d+)"}},
         "levels": {"condition": {"from": "source_name_ch1",
                                  "map": {"(?i)normal": "normal", "(?i)tumou?r|carcinoma": "tumor"}}}}


def test_scan_lists_each_platform(family):
    info = geo.scan_soft(family)
    assert info["kind"] == "GSE"
    assert {p: (v["title"], v["probes"], v["samples"]) for p, v in info["platforms"].items()} == PLATFORMS


def test_no_platform_chosen_stops_the_config_check(family):
    from conftest import validated

    over = {"datasets": {"my_cohort": {"soft": str(family)}}}
    with pytest.raises(InputError) as e:
        validated("config/config.yaml", "config/own_data.yaml", merged=over)
    msg = str(e.value)
    assert "datasets.my_cohort.platform" in msg and str(family) in msg
    for gpl, (title, n_probes, n_samples) in PLATFORMS.items():
        assert f"{gpl} '{title}' ({n_samples} samples, {n_probes} probes)" in msg
    over["datasets"]["my_cohort"]["platform"] = "GPL1"
    with pytest.raises(InputError, match="has no platform 'GPL1'"):
        validated("config/config.yaml", "config/own_data.yaml", merged=over)


def test_gse_probe_annotation_is_optional_but_gds_names_its_platform(family):
    from gexflow.config import check_dataset_sources

    ds = {"kind": "bulk", "source": "geo", "soft": str(family), "platform": "GPL90001", "gene_id_type": "probe",
          "scale": "linear"}
    check_dataset_sources({"x": ds}, "my.yaml")  # no probe_annotation needed
    gds = dict(ds, soft="resources/geo/GDS507.soft.gz", platform=None)
    with pytest.raises(InputError, match=r"GPL97\.annot\.gz"):
        check_dataset_sources({"x": gds}, "my.yaml")


def test_chosen_platform_only_with_annotation_and_geo_fields(family, tmp_path):
    expr, samples = tmp_path / "e.tsv.gz", tmp_path / "s.tsv"
    prepare_geo(family, expr, samples, platform="GPL90001")
    table, sheet = pd.read_csv(expr, sep="\t"), pd.read_csv(samples, sep="\t", dtype=str)
    assert len(table) == 40 and table["probe_id"].str.startswith("P1_").all()
    assert list(table.columns[:3]) == ["probe_id", "geo_symbol", "geo_entrez"]
    assert table["geo_symbol"].iloc[0] == "SYN1" and str(table["geo_entrez"].iloc[0]) == "990001"
    assert len(sheet) == 6 and set(sheet["sample_id"]) == set(table.columns[3:])
    for col in ("title", "source_name_ch1", "description", "platform_id", "tissue", "age", "batch"):
        assert col in sheet.columns, col
    with pytest.raises(InputError, match="none is chosen"):
        prepare_geo(family, expr, samples)


def test_derive_and_levels_rules(family, tmp_path):
    expr, samples = tmp_path / "e.tsv.gz", tmp_path / "s.tsv"
    prepare_geo(family, expr, samples, platform="GPL90001")
    sheet = pd.read_csv(samples, sep="\t", dtype=str)
    out, table = sheets.derive_columns(sheet, RULES, samples)
    assert list(out["patient"]) == ["1", "1", "2", "2", "3", "3"]
    assert list(out["condition"]) == ["normal", "tumor"] * 3
    assert set(zip(table["column"], table["level"], table["samples"])) >= {("condition", "tumor", 3),
                                                                         ("condition", "normal", 3)}
    narrow = {"levels": {"condition": {"from": "source_name_ch1", "map": {"(?i)normal": "normal"}}}}
    with pytest.raises(InputError, match="'renal carcinoma'"):
        sheets.derive_columns(sheet, narrow, samples)
    narrow["levels"]["condition"]["unmatched"] = "na"
    out, _ = sheets.derive_columns(sheet, narrow, samples)
    assert out["condition"].isna().sum() == 3


def test_chosen_platform_through_filter_and_deg_stages(family, tmp_path):
    """Stage-level: the file's annotation maps the probes, derive/levels make patient and
    condition, filter_steps.tsv counts each step, and the DEG stage finds the paired design."""
    from gexflow.paths import Paths
    from gexflow.stages.deg import call_degs
    from gexflow.stages.filter import filter_normalise

    from conftest import ENTREZ_MAP, make_job, validated

    over = {"datasets": {"my_cohort": {"soft": str(family), "platform": "GPL90001", **RULES,
                                       "condition_column": "condition", "patient_column": "patient",
                                       "categorical_covariates": ["condition"],
                                       "deg": {"contrast": {"column": "condition", "groups": ["tumor", "normal"]},
                                               "min_pairs": 3}}}}
    cfg = validated("config/config.yaml", "config/own_data.yaml", merged=over)
    paths = Paths(cfg)
    staged = {"expression": tmp_path / "staged" / "expression.tsv.gz", "samples": tmp_path / "staged" / "samples.tsv"}
    staged["expression"].parent.mkdir()
    prepare_geo(family, staged["expression"], staged["samples"], platform="GPL90001")
    from gexflow.io import write_sidecar

    for f in staged.values():
        write_sidecar(f)
    out = {"h5ad": tmp_path / "filtered.h5ad", "steps": tmp_path / "filter_steps.tsv",
           "ids": tmp_path / "id_mapping.tsv", "qc": tmp_path / "filter_qc.png"}
    job = make_job("filter_normalise", input={**staged, "entrez_map": ENTREZ_MAP}, output=out,
                   params=paths.filter_params("my_cohort"), wildcards={"dataset": "my_cohort"})
    with pytest.raises(InputError, match=r"probes are in the annotation .*GPL97\.annot\.gz \(platform GPL97\)"):
        filter_normalise(job)  # the template's GPL97 annotation covers none of these probes: not gene_id_type
    assert not out["h5ad"].exists()
    cfg["datasets"]["my_cohort"].pop("probe_annotation")  # now the family file's own platform table
    paths = Paths(cfg)
    filter_normalise(make_job("filter_normalise", input={**staged, "entrez_map": ENTREZ_MAP}, output=out,
                              params=paths.filter_params("my_cohort"), wildcards={"dataset": "my_cohort"}))
    steps = pd.read_csv(out["steps"], sep="\t")
    by_step = dict(zip(steps["step"], zip(steps["samples"], steps["genes"])))
    assert by_step["matrix (platform GPL90001)"] == (6, 40)
    assert by_step["derived condition=tumor"][0] == 3 and by_step["derived patient=1"][0] == 2
    assert by_step["id_mapping"] == (6, 40)
    import anndata as ad

    adata = ad.read_h5ad(out["h5ad"])
    assert adata.n_obs == 6 and set(adata.obs["condition"]) == {"tumor", "normal"}
    deg_out = {"table": tmp_path / "degs.tsv", "summary": tmp_path / "summary.tsv", "volcano": tmp_path / "v.png"}
    call_degs(make_job("call_degs", input={"h5ad": out["h5ad"]}, output=deg_out,
                       params=paths.deg_params("my_cohort"), wildcards={"dataset": "my_cohort"}))
    summary = dict(pd.read_csv(deg_out["summary"], sep="\t", header=None, dtype=str).to_numpy()[1:])
    assert summary["design"] == "paired" and summary["matched_pairs"] == "3"


def test_pre_run_sheet_counts_use_the_same_rules(tmp_path):
    """The parse-time class counts read the derived columns by the filter's own rules; an
    unmatched value stops there, naming the user's sheet (synthetic sheet)."""
    from gexflow.config import sheet_counts

    sheet = tmp_path / "synthetic_samples.tsv"
    sheet.write_text("sample_id\ttitle\tsource_name_ch1\n" + "".join(
        f"S{k}\t{'C' if k % 2 else 'N'}{k // 2 + 1}\t{'carcinoma' if k % 2 else 'normal tissue'}\n" for k in range(6)))
    ds = {"source": "embedded", "samples": str(sheet), "sample_id_column": "sample_id", "patient_column": "patient",
          **RULES}
    assert sheet_counts(ds, ["condition"]) == ({"normal": 3, "tumor": 3}, 3)
    ds["levels"] = {"condition": {"from": "source_name_ch1", "map": {"normal": "normal"}}}
    with pytest.raises(InputError, match=r"synthetic_samples\.tsv.*'carcinoma'"):
        sheet_counts(ds, ["condition"])
