"""Stage filter: rule filter_normalise. Brings a dataset to log2(x + 1) of a normalised value,
filters it, and writes AnnData plus the filter steps, the id mapping and a QC figure. Errors
found on the staged copies name the user's files."""

from __future__ import annotations

import logging

import numpy as np

from gexflow import filtering
from gexflow.errors import InputError
from gexflow.io import write_h5ad, write_tsv

log = logging.getLogger("gexflow.stages.filter")


def filter_normalise(job) -> None:
    """Rule filter_normalise: filtered.h5ad, filter_steps.tsv, id_mapping.tsv, filter_qc.png."""
    ds, inputs = job.params["job"]["dataset"], job.input
    origins = {str(inputs[k]): str(ds[f]) for k, f in (("expression", "matrix"), ("samples", "samples"),
                                                      ("matrix", "matrix")) if k in inputs and f in ds}
    try:
        _filter(job, ds, job.params["job"]["filter"])
    except InputError as e:
        raise e.naming(origins) from None


def _filter(job, ds: dict, params: dict) -> None:
    from gexflow import identifiers
    from gexflow.plots import filter_qc_figure

    inputs, name = job.input, job.wildcards["dataset"]
    if ds["kind"] == "single_cell":
        adata, steps = filtering.filter_single_cell(inputs["matrix"], ds, params)
        per_cell = np.asarray((adata.X > 0).sum(axis=1)).ravel()
        qc = dict(kept=per_cell, dropped=np.array([]), xlabel="genes detected per cell", threshold=None)
        mapping = identifiers.map_ids(adata.var_names, "symbol", identifiers.read_reference(inputs["entrez_map"]),
                                      symbols=adata.var["symbol"])
    else:
        adata, steps, qc, mapping = _filter_bulk(inputs, ds, params)
    filtering.check_stored_values(adata, ds, inputs.get("expression", inputs.get("matrix")))
    steps_df = filtering.steps_table(steps)
    out_scale = "centred log2 (as given)" if ds["scale"] == "log2_centred" else "log2(x+1)"
    adata.uns["gexflow"] = {"dataset": name, "input_scale": ds["scale"], "output_scale": out_scale,
                            "filter": params, "steps": steps_df.to_dict(orient="list")}
    filter_qc_figure(qc["kept"], qc["dropped"], steps_df, job.output["qc"],
                     title=f"{name}: {adata.n_obs} samples x {adata.n_vars} genes", xlabel=qc["xlabel"],
                     threshold=qc["threshold"])
    report = identifiers.mapping_report(mapping)
    report.insert(0, "gene_id_type", ds.get("gene_id_type", "symbol"))
    write_tsv(report, job.output["ids"])
    write_tsv(steps_df, job.output["steps"])
    write_h5ad(adata, job.output["h5ad"])
    log.info("%s: wrote %d samples x %d genes to %s", name, adata.n_obs, adata.n_vars, job.output["h5ad"])


def _filter_bulk(inputs, ds, params):
    import anndata as ad

    from gexflow import identifiers, sheets
    from gexflow.geo import annotation_columns
    from gexflow.io import handle_missing, read_expression_table, verify_sidecar
    from gexflow.sheets import read_sample_sheet

    matrix_file, sheet_file = inputs["expression"], inputs["samples"]
    verify_sidecar(matrix_file)
    verify_sidecar(sheet_file)
    X, genes = read_expression_table(matrix_file, ds["gene_id_column"], annotation_columns(ds, matrix_file),
                                     duplicates=ds.get("duplicate_gene_ids", "error"), missing="keep")
    pre = [filtering.FilterStep("matrix" + (f" (platform {ds['platform']})" if ds.get("platform") else ""), *X.shape)]
    value_map = {ds["condition_column"]: ds["condition_map"]} if ds.get("condition_map") else {}
    covariates = list(ds.get("categorical_covariates", [])) + list(ds.get("numerical_covariates", []))
    sheet = read_sample_sheet(sheet_file, sheets.id_column(ds), sheets.required_columns(ds), X.index,
                              include=ds.get("include"), exclude=ds.get("exclude"), value_map=value_map,
                              own_group=ds.get("patient_column"), covariates=covariates, ds=ds)
    derived, counts = sheet.attrs.get("derived"), sheet.attrs.get("counts", [])
    excluded = [s for s in sheet.attrs.get("excluded", []) if s in X.index]
    sheet.attrs = {}
    n_sheet, in_sheet = len(sheet), sheet.index
    sheet, ds, notes = sheets.resolve_missing_covariates(sheet, ds, sheet_file)
    sheets.validate_sheet(sheet, ds, sheet_file)
    pre += [filtering.FilterStep(f"sheet {what}", n, X.shape[1]) for what, n in counts]
    for r in (derived.itertuples() if derived is not None else []):
        pre.append(filtering.FilterStep(f"derived {r.column}={r.level}", r.samples, X.shape[1], f"{r.rule} of {r[2]}"))
    if excluded:
        log.info("%s: %d samples excluded by the dataset's include / exclude (e.g. %s)", sheet_file, len(excluded),
                 excluded[0])
        pre.append(filtering.FilterStep("excluded", X.shape[0] - len(excluded), X.shape[1],
                                        f"{len(excluded)} samples excluded by the dataset's include / exclude"))
    extra = X.index.difference(in_sheet).difference(excluded)
    if len(extra):
        log.info("%s: %d matrix samples are not in the sample sheet and are left out", matrix_file, len(extra))
        pre.append(filtering.FilterStep("sample_sheet", n_sheet, X.shape[1],
                                        f"{len(extra)} matrix samples not in the sample sheet"))
    pre += [filtering.FilterStep(step, n, X.shape[1], note) for step, n, note in notes]
    X = X.loc[sheet.index]  # sheet filters first: a gene missing only in a dropped sample stays
    before = X.shape[1]
    X, genes = handle_missing(X, genes, ds.get("missing_values", "error"), matrix_file)
    pre.append(filtering.FilterStep("missing_values", *X.shape,
                                    f"{ds.get('missing_values', 'error')}: {before - X.shape[1]} dropped"))
    X, genes, mapping = identifiers.map_matrix_ids(X, genes, ds, inputs["entrez_map"], matrix_file)
    pre.append(filtering.FilterStep("id_mapping", *X.shape, f"{ds.get('gene_id_type', 'symbol')} -> genes"))
    L, keep_samples, keep_genes, steps = filtering.normalise_bulk(
        X.to_numpy(), ds["scale"], params, log_offset=ds.get("log_offset"), file=matrix_file,
        scale_check=ds.get("scale_check", True), gene_ids=list(X.columns), sample_ids=list(X.index))
    steps = pre + steps[1:]  # normalise_bulk's "input" is the id_mapping row
    means = L.mean(axis=0)
    obs = sheets.sheet_obs(sheet[keep_samples], ds)
    var = identifiers.gene_table(genes[keep_genes], ds, inputs["entrez_map"], mapping)
    adata = ad.AnnData(X=L[:, keep_genes].astype(np.float32), obs=obs, var=var)
    if ds["scale"] == "counts":  # DESeq2 needs the raw counts; a released cohort, each sample's library size
        adata.layers["counts"] = X.to_numpy()[keep_samples][:, keep_genes]
        adata.obs["library_size"] = X.to_numpy()[keep_samples].sum(axis=1)
    adata.obs.index.name = None  # h5ad refuses an index name that is also a column
    centred = ds["scale"] == "log2_centred"
    qc = dict(kept=means[keep_genes], dropped=means[~keep_genes],
              xlabel="per-gene mean (centred log2)" if centred else "per-gene mean log2(x+1)",
              threshold=None if centred else params["min_expression"])
    return adata, steps, qc, mapping

