"""Stage select_genes: one gene list (gene_id, symbol, source) per set and dataset, and its
coverage report."""

from __future__ import annotations

import logging

import pandas as pd

from gexflow.errors import InputError
from gexflow.io import read_h5ad, write_tsv

log = logging.getLogger("gexflow.stages.select")


def select_genes(job) -> None:
    """Rule select_genes: one gene list (gene_id, symbol, source) + a coverage report."""
    from gexflow import selection
    from gexflow.io import read_intermediate

    inputs, spec, name = job.input, job.params["job"]["spec"], job.wildcards["selection"]
    genes_out, coverage_out = job.output["genes"], job.output["coverage"]
    method = spec["method"]
    if method in ("kegg", "l1000", "gmt", "list"):
        var = read_h5ad(inputs["h5ad"], backed="r").var.copy()
        if method == "list":
            genes, coverage = selection.select_list(inputs["file"], var)
        elif method == "gmt":
            genes, coverage = selection.select_gmt(inputs["file"], var, spec.get("names"))
        elif method == "kegg":
            kegg = read_intermediate(inputs["kegg"], dtype=str)
            genes, coverage = selection.select_kegg(kegg, var, spec["pathways"], kegg_file=inputs["kegg"])
        else:
            lm = read_intermediate(inputs["l1000"], dtype=str)
            genes, coverage = selection.select_l1000(lm, var)
    elif method == "deg":
        degs = read_intermediate(inputs["degs"], dtype={"gene_id": str, "symbol": str})
        genes, coverage = selection.select_degs(degs, spec.get("top_n"), spec["correction"], deg_file=inputs["degs"])
    else:
        parts = [read_intermediate(f, dtype=str, keep_default_na=False) for f in inputs["parts"]]
        genes = selection.combine(parts, method)
        coverage = pd.DataFrame([{"set": method, "name": " / ".join(spec["of"]), "in_set": len(genes),
                                  "found_in_data": len(genes), "missing": 0, "missing_genes": ""}])
    if genes.empty:
        raise InputError(genes_out, "select.sets", f"selection '{name}' has no gene in this dataset",
                         "choose other pathways/sets, or a union instead of an intersection")
    log.info("%s: %d genes (%s)", name, len(genes),
             "; ".join(f"{r.set}: {r.found_in_data}/{r.in_set}" for r in coverage.itertuples()))
    write_tsv(coverage, coverage_out)
    write_tsv(genes, genes_out)
