"""Stage filter_normalise: bring a dataset to log2(x + 1) of a normalised value, filter it, and
write AnnData plus the filter steps and a QC figure."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow import filtering
from gexflow.errors import InputError
from gexflow.io import read_expression_table, read_sample_sheet, write_h5ad, write_tsv

log = logging.getLogger("gexflow.stages.filter")

SAMPLE_SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "samples.schema.yaml"


def filter_dataset(inputs: dict, ds: dict, params: dict, *, h5ad_out, steps_out, qc_out, name: str,
                   ids_out=None) -> None:
    """Rule filter_normalise. Errors found on the staged copies name the user's files."""
    origins = {str(inputs[k]): str(ds[f]) for k, f in (("expression", "matrix"), ("samples", "samples"),
                                                      ("matrix", "matrix")) if k in inputs and f in ds}
    try:
        _filter_dataset(inputs, ds, params, h5ad_out=h5ad_out, steps_out=steps_out, qc_out=qc_out, name=name,
                        ids_out=ids_out)
    except InputError as e:
        raise e.naming(origins) from None


# Scales whose values are >= 0 by definition, so log2(x + 1) of them is too.
NON_NEGATIVE_SCALES = ("counts", "linear", "log2p1", "log2_offset")


def check_stored_values(adata, ds: dict, file) -> None:
    """The matrix as it will be stored (float32): every value finite, and none negative where the
    input scale makes that impossible (values outside the scale would pass silently otherwise)."""
    X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float32)
    bad = ~np.isfinite(X)
    what = "is not finite"
    if not bad.any() and ds["kind"] == "bulk" and ds["scale"] in NON_NEGATIVE_SCALES:
        bad = X < 0
        what = "is negative"
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(file, str(adata.obs_names[r]), f"{int(bad.sum())} values are out of range after bringing "
                         f"`scale: {ds['scale']}` to log2(x+1) as float32: the value of gene {adata.var_names[c]} "
                         f"{what} ({X[r, c]})", "correct those values in the matrix, or set the dataset's `scale` "
                         "to the one the values are on (log values that may be negative: `log_unknown`)")


def _filter_dataset(inputs: dict, ds: dict, params: dict, *, h5ad_out, steps_out, qc_out, name: str,
                    ids_out=None) -> None:
    from gexflow import identifiers

    if ds["kind"] == "single_cell":
        adata, steps = _filter_single_cell(inputs["matrix"], ds, params)
        per_cell = np.asarray((adata.X > 0).sum(axis=1)).ravel()
        qc = dict(kept=per_cell, dropped=np.array([]), xlabel="genes detected per cell", threshold=None)
        mapping = identifiers.map_ids(adata.var_names, "symbol", identifiers.read_reference(inputs["entrez_map"]),
                                      symbols=adata.var["symbol"]) if "entrez_map" in inputs else None
    else:
        adata, steps, qc, mapping = _filter_bulk(inputs, ds, params)
    check_stored_values(adata, ds, inputs.get("expression", inputs.get("matrix")))
    steps_df = filtering.steps_table(steps)
    adata.uns["gexflow"] = {"dataset": name, "input_scale": ds["scale"], "output_scale": "log2(x+1)",
                            "filter": params, "steps": steps_df.to_dict(orient="list")}
    from gexflow.plots import filter_qc_figure

    filter_qc_figure(qc["kept"], qc["dropped"], steps_df, qc_out,
                     title=f"{name}: {adata.n_obs} samples x {adata.n_vars} genes", xlabel=qc["xlabel"],
                     threshold=qc["threshold"])
    if ids_out is not None:
        report = identifiers.mapping_report(mapping) if mapping is not None else pd.DataFrame(
            columns=["status", "ids", "fraction", "examples"])
        report.insert(0, "gene_id_type", ds.get("gene_id_type", "symbol"))
        write_tsv(report, ids_out)
    write_tsv(steps_df, steps_out)
    write_h5ad(adata, h5ad_out)
    log.info("%s: wrote %d samples x %d genes to %s", name, adata.n_obs, adata.n_vars, h5ad_out)


def _filter_bulk(inputs, ds, params):
    import anndata as ad

    matrix_file, sheet_file = inputs["expression"], inputs["samples"]
    X, genes = read_expression_table(matrix_file, ds["gene_id_column"], ds.get("annotation_columns", []),
                                     duplicates=ds.get("duplicate_gene_ids", "error"),
                                     missing=ds.get("missing_values", "error"))
    X, genes, mapping = _map_identifiers(X, genes, ds, inputs["entrez_map"], matrix_file)
    roles = {"condition": ds.get("condition_column"), "patient": ds.get("patient_column")}
    required = [c for c in roles.values() if c] + list(ds.get("categorical_covariates", [])) \
        + list(ds.get("numerical_covariates", []))
    value_map = {ds["condition_column"]: ds["condition_map"]} if ds.get("condition_map") else {}
    sheet = read_sample_sheet(sheet_file, ds["sample_id_column"], list(dict.fromkeys(required)), X.index,
                              include=ds.get("include"), exclude=ds.get("exclude"), value_map=value_map,
                              own_group=ds.get("patient_column"))
    _validate_sheet(sheet, ds, roles, sheet_file)
    extra = X.index.difference(sheet.index)
    if len(extra):
        log.info("%s: %d matrix samples are not in the sample sheet and are left out", matrix_file, len(extra))
    X = X.loc[sheet.index]
    L, keep_samples, keep_genes, steps = filtering.normalise_bulk(
        X.to_numpy(), ds["scale"], params, log_offset=ds.get("log_offset"), file=matrix_file)
    means = L.mean(axis=0)
    obs = _obs(sheet[keep_samples], ds, sheet_file)
    var = _var(genes[keep_genes], ds, inputs["entrez_map"], mapping)
    adata = ad.AnnData(X=L[:, keep_genes].astype(np.float32), obs=obs, var=var)
    if ds["scale"] == "counts":  # DESeq2 needs the raw counts of the kept samples and genes
        adata.layers["counts"] = X.to_numpy()[keep_samples][:, keep_genes]
    adata.obs.index.name = None  # h5ad refuses an index name that is also a column
    qc = dict(kept=means[keep_genes], dropped=means[~keep_genes], xlabel="per-gene mean log2(x+1)",
              threshold=params["min_expression"])
    return adata, steps, qc, mapping


def _map_identifiers(X: pd.DataFrame, genes: pd.DataFrame, ds: dict, entrez_map, file):
    """Map the matrix's gene ids (`gene_id_type`); probes are collapsed to genes here, on the
    input scale. Returns (matrix, gene table, per-id mapping); refuses a mapping rate below
    `min_mapped_fraction`."""
    from gexflow import identifiers

    id_type = ds.get("gene_id_type", "symbol")
    ref = identifiers.read_reference(entrez_map)
    if id_type == "probe":
        pa = ds["probe_annotation"]
        ann = identifiers.read_probe_annotation(pa["file"], pa.get("id_column", "ID"),
                                                pa.get("symbol_column", "Gene symbol"),
                                                pa.get("entrez_column", "Gene ID"))
        mapping = identifiers.map_probes(genes.index, ann)
    else:
        symbols = genes[ds["gene_symbol_column"]] if ds.get("gene_symbol_column") else None
        mapping = identifiers.map_ids(genes.index, id_type, ref, symbols)
    identifiers.check_mapping_rate(mapping, id_type, ds.get("min_mapped_fraction", 0.5), file)
    counts = mapping["status"].value_counts()
    log.info("%s: gene ids as %s: %d mapped, %d unmapped, %d ambiguous", file, id_type, counts.get("mapped", 0),
             counts.get("unmapped", 0), counts.get("ambiguous", 0))
    if id_type == "probe":
        rule = ds.get("probe_collapse", "max_mean")
        Xg, table = identifiers.collapse_probes(X.to_numpy(), mapping, rule)
        log.info("%s: %d mapped probes collapsed to %d genes (%s); unmapped and ambiguous probes dropped", file,
                 counts.get("mapped", 0), Xg.shape[1], rule)
        return pd.DataFrame(Xg, index=X.index, columns=table.index), table, mapping
    return X, genes, mapping


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
            raise InputError(sheet_file, col, "numerical covariate is not a number for sample "
                             f"{bad[0]} ('{sheet.loc[bad[0], col]}')",
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


def _var(genes: pd.DataFrame, ds: dict, entrez_map, mapping: pd.DataFrame | None = None) -> pd.DataFrame:
    ids = genes.index.astype(str)
    var = pd.DataFrame(index=pd.Index(ids, name="gene_id"))
    if ds.get("gene_id_type") in ("ensembl", "symbol_entrez", "probe"):
        source = genes if ds["gene_id_type"] == "probe" else mapping.loc[ids]
        for col in ds.get("annotation_columns", []):  # per probe: gone once probes are collapsed
            if col in genes.columns:
                var[col] = genes[col].astype(str).to_numpy()
        var["symbol"] = source["symbol"].astype(str).to_numpy()
        var["entrez_id"] = source["entrez_id"].astype(str).to_numpy()
        if ds["gene_id_type"] == "probe":
            var["probes"] = genes["probes"].to_numpy()
        return var
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
    if ds["scale"] == "linear":  # FPKM/TPM: depth-normalised already, not counts
        adata, steps, reason = filtering.qc_single_cell_linear(adata, params, file=matrix_file)
    else:
        adata, steps, reason = filtering.qc_single_cell(adata, params, file=matrix_file)
    for col in ds.get("categorical_covariates", []):
        if col not in adata.obs.columns:
            raise InputError(matrix_file, f"obs.{col}", "covariate column not found in the AnnData obs",
                             f"use one of: {', '.join(adata.obs.columns[:10])}")
    if "symbol" not in adata.var.columns:
        adata.var["symbol"] = adata.var_names.astype(str)
    adata.var.index.name = "gene_id"
    adata.uns["gexflow_qc_reason"] = reason
    return adata, steps
