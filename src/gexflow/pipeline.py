"""Stage entry points called by the rule scripts: each reads its inputs, calls the library, and
writes its outputs atomically."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow import filtering
from gexflow.errors import InputError
from gexflow.io import read_expression_table, read_sample_sheet, write_h5ad, write_tsv

log = logging.getLogger("gexflow.pipeline")

SAMPLE_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"


def filter_dataset(inputs: dict, ds: dict, params: dict, *, h5ad_out, steps_out, qc_out, name: str) -> None:
    if ds["kind"] == "single_cell":
        adata, steps = _filter_single_cell(inputs["matrix"], ds, params)
        per_cell = np.asarray((adata.X > 0).sum(axis=1)).ravel()
        qc = dict(kept=per_cell, dropped=np.array([]), xlabel="genes detected per cell", threshold=None)
    else:
        adata, steps, qc = _filter_bulk(inputs, ds, params)
    steps_df = filtering.steps_table(steps)
    adata.uns["gexflow"] = {"dataset": name, "input_scale": ds["scale"], "output_scale": "log2(x+1)",
                            "filter": params, "steps": steps_df.to_dict(orient="list")}
    from gexflow.plots import filter_qc_figure

    filter_qc_figure(qc["kept"], qc["dropped"], steps_df, qc_out, title=f"{name}: {adata.n_obs} samples x {adata.n_vars} genes",
                     xlabel=qc["xlabel"], threshold=qc["threshold"])
    write_tsv(steps_df, steps_out)
    write_h5ad(adata, h5ad_out)
    log.info("%s: wrote %d samples x %d genes to %s", name, adata.n_obs, adata.n_vars, h5ad_out)


def _filter_bulk(inputs, ds, params):
    import anndata as ad

    matrix_file, sheet_file = inputs["expression"], inputs["samples"]
    X, genes = read_expression_table(matrix_file, ds["gene_id_column"], ds.get("annotation_columns", []),
                                     duplicates=ds.get("duplicate_gene_ids", "error"),
                                     missing=ds.get("missing_values", "error"))
    roles = {"condition": ds.get("condition_column"), "patient": ds.get("patient_column")}
    required = [c for c in roles.values() if c] + list(ds.get("categorical_covariates", [])) + list(ds.get("numerical_covariates", []))
    sheet = read_sample_sheet(sheet_file, ds["sample_id_column"], list(dict.fromkeys(required)), X.index)
    _validate_sheet(sheet, ds, roles, sheet_file)
    extra = X.index.difference(sheet.index)
    if len(extra):
        log.info("%s: %d matrix samples are not in the sample sheet and are left out", matrix_file, len(extra))
    X = X.loc[sheet.index]
    L, keep_samples, keep_genes, steps = filtering.normalise_bulk(
        X.to_numpy(), ds["scale"], params, log_offset=ds.get("log_offset"), file=matrix_file)
    means = L.mean(axis=0)
    obs = _obs(sheet[keep_samples], ds, sheet_file)
    var = _var(genes[keep_genes], ds, inputs["entrez_map"])
    adata = ad.AnnData(X=L[:, keep_genes].astype(np.float32), obs=obs, var=var)
    adata.obs.index.name = None  # h5ad refuses an index name that is also a column
    qc = dict(kept=means[keep_genes], dropped=means[~keep_genes], xlabel="per-gene mean log2(x+1)",
              threshold=params["min_expression"])
    return adata, steps, qc


def _validate_sheet(sheet: pd.DataFrame, ds: dict, roles: dict, sheet_file) -> None:
    """Rows against workflow/schemas/samples.schema.yaml (canonical names), numbers parse."""
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(yaml.safe_load(SAMPLE_SCHEMA.read_text()))
    canon = pd.DataFrame({"sample_id": sheet[ds["sample_id_column"]]})
    for role, col in roles.items():
        if col:
            canon[role] = sheet[col]
    for i, row in enumerate(canon.to_dict(orient="records")):
        e = jsonschema.exceptions.best_match(validator.iter_errors(row))
        if e is not None:
            field = roles.get(list(e.path)[0], ds["sample_id_column"]) if e.path else ds["sample_id_column"]
            raise InputError(sheet_file, field, f"row {i + 2}: {e.message}", "fix that row of the sample sheet")
    for col in ds.get("numerical_covariates", []):
        values = pd.to_numeric(sheet[col], errors="coerce")
        bad = sheet.index[values.isna()]
        if len(bad):
            raise InputError(sheet_file, col, f"numerical covariate is not a number for sample {bad[0]} ('{sheet.loc[bad[0], col]}')",
                             "fill in a number, drop the sample, or list the column under `categorical_covariates`")


def _obs(sheet: pd.DataFrame, ds: dict, sheet_file) -> pd.DataFrame:
    obs = sheet.copy()
    obs.index = pd.Index(obs.index.astype(str), name=None)
    numerical = set(ds.get("numerical_covariates", []))
    for col in obs.columns:
        if col in numerical:
            obs[col] = pd.to_numeric(obs[col]).astype(np.float64)
        else:
            obs[col] = obs[col].astype("category")
    obs.attrs = {}
    return obs


def _var(genes: pd.DataFrame, ds: dict, entrez_map) -> pd.DataFrame:
    ids = genes.index.astype(str)
    var = pd.DataFrame(index=pd.Index(ids, name="gene_id"))
    for col in ds.get("annotation_columns", []):
        var[col] = genes[col].astype(str).to_numpy()
    emap = pd.read_csv(entrez_map, sep="\t", dtype=str, usecols=["entrez_id", "symbol"])
    if ds.get("gene_symbol_column"):
        var["symbol"] = genes[ds["gene_symbol_column"]].astype(str).to_numpy()
    elif ds.get("gene_id_type", "symbol") == "entrez":
        var["symbol"] = ids.map(dict(zip(emap["entrez_id"], emap["symbol"]))).fillna("")
    else:
        var["symbol"] = ids
    if "entrez_id" not in var.columns:
        if ds.get("gene_id_type", "symbol") == "entrez":
            var["entrez_id"] = ids
        else:
            by_symbol = dict(zip(emap["symbol"], emap["entrez_id"]))
            var["entrez_id"] = var["symbol"].map(by_symbol).fillna("")
    return var


def _filter_single_cell(matrix_file, ds, params):
    import anndata as ad

    try:
        adata = ad.read_h5ad(matrix_file)
    except Exception as e:  # h5py/anndata raise many types for a bad file
        raise InputError(matrix_file, "(whole file)", f"cannot be read as AnnData ({type(e).__name__}: {e})",
                         "point the dataset's `matrix` at an .h5ad file") from None
    adata, steps, reason = filtering.qc_single_cell(adata, params, file=matrix_file)
    for col in ds.get("categorical_covariates", []):
        if col not in adata.obs.columns:
            raise InputError(matrix_file, f"obs.{col}", "covariate column not found in the AnnData obs",
                             f"use one of: {', '.join(adata.obs.columns[:10])}")
    adata.var["symbol"] = adata.var_names.astype(str)
    adata.var.index.name = "gene_id"
    adata.uns["gexflow_qc_reason"] = reason
    return adata, steps


def call_degs_stage(h5ad, ds: dict, params: dict, *, table_out, summary_out, volcano_out, name: str) -> None:
    """Rule call_degs: design choice, vectorised test, corrections, fold change, table + plot."""
    import anndata as ad

    from gexflow import deg
    from gexflow.plots import volcano_figure

    adata = ad.read_h5ad(h5ad)
    design = deg.choose_design(adata.obs, condition_column=ds.get("condition_column") or "condition",
                               patient_column=ds.get("patient_column"), tumour_label=params["tumour_label"],
                               normal_label=params["normal_label"], design=params["design"],
                               min_pairs=params["min_pairs"], min_samples_per_group=params["min_samples_per_group"],
                               file=h5ad)
    log.info("%s: %s", name, design.note)
    table = deg.call_degs(adata.X, adata.var, design, alpha=params["alpha"], correction=params["correction"],
                          log2fc_threshold=params["log2fc_threshold"])
    p_col = "p_bonferroni" if params["correction"] == "bonferroni" else "p_bh"
    summary = pd.DataFrame([
        ("design", design.kind), ("design_note", design.note), ("matched_pairs", design.n_pairs),
        ("n_tumour", len(design.tumour)), ("n_normal", len(design.normal)), ("genes_tested", len(table)),
        ("correction", params["correction"]), ("alpha", params["alpha"]),
        ("log2fc_threshold", params["log2fc_threshold"]),
        ("deg_test", int(table["deg_test"].sum())), ("deg_fold_change", int(table["deg_fold_change"].sum())),
        ("deg_both", int(table["deg"].sum())),
        ("deg_up_in_tumour", int((table["deg"] & (table["log2fc"] > 0)).sum())),
        ("deg_down_in_tumour", int((table["deg"] & (table["log2fc"] < 0)).sum())),
        ("tests_exact", int((table["test_method"] == "exact").sum())),
        ("tests_asymptotic", int((table["test_method"] == "asymptotic").sum())),
        ("tests_permutation", int((table["test_method"] == "permutation").sum())),
        ("genes_constant_p1", int((table["test_method"] == "constant").sum())),
    ], columns=["item", "value"])
    if not table["deg"].any():
        log.warning("%s: the DEG set is empty (%d pass the test, %d the fold change); gene selections that need "
                    "DEGs will stop: loosen deg.alpha / deg.log2fc_threshold", name,
                    int(table["deg_test"].sum()), int(table["deg_fold_change"].sum()))
        summary.loc[len(summary)] = ("note", "empty DEG set: loosen deg.alpha or deg.log2fc_threshold")
    volcano_figure(table, volcano_out, p_column=p_col, alpha=params["alpha"],
                   log2fc_threshold=params["log2fc_threshold"], top_n=params["volcano_labels"],
                   title=f"{name}: {design.note}\n{int(table['deg'].sum())} DEGs ({params['correction']} "
                         f"p <= {params['alpha']:g} and |log2 FC| >= {params['log2fc_threshold']:g})")
    write_tsv(table, table_out)
    write_tsv(summary, summary_out)


def select_genes_stage(inputs: dict, spec: dict, *, genes_out, coverage_out, name: str) -> None:
    """Rule select_genes: one gene list (gene_id, symbol, source) + a coverage report."""
    from gexflow import selection

    method = spec["method"]
    if method in ("kegg", "l1000"):
        import anndata as ad

        var = ad.read_h5ad(inputs["h5ad"], backed="r").var.copy()
        if method == "kegg":
            kegg = pd.read_csv(inputs["kegg"], sep="\t", dtype=str)
            genes, coverage = selection.select_kegg(kegg, var, spec["pathways"], kegg_file=inputs["kegg"])
        else:
            lm = pd.read_csv(inputs["l1000"], sep="\t", dtype=str)
            genes, coverage = selection.select_l1000(lm, var)
    elif method == "deg":
        degs = pd.read_csv(inputs["degs"], sep="\t", dtype={"gene_id": str, "symbol": str})
        genes, coverage = selection.select_degs(degs, spec.get("top_n"), spec["correction"], deg_file=inputs["degs"])
    else:
        parts = [pd.read_csv(f, sep="\t", dtype=str) for f in inputs["parts"]]
        genes = selection.combine(parts, method)
        coverage = pd.DataFrame([{"set": method, "name": " / ".join(spec["of"]), "in_set": len(genes),
                                  "found_in_data": len(genes), "missing": 0, "missing_genes": ""}])
    if genes.empty:
        raise InputError(genes_out, "select.sets", f"selection '{name}' has no gene in this dataset",
                         "choose other pathways/sets, or a union instead of an intersection")
    log.info("%s: %d genes (%s)", name, len(genes), "; ".join(f"{r.set}: {r.found_in_data}/{r.in_set}" for r in coverage.itertuples()))
    write_tsv(coverage, coverage_out)
    write_tsv(genes, genes_out)
