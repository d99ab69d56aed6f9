"""Download stage: stage the shipped (embedded) files after checking their sha256, or fetch a
remote source (cached, retried, checksummed) and parse it into gexflow's staged layout."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gexflow import download as dl
from gexflow.errors import InputError
from gexflow.staging import stage_file, stage_references

# source -> parser of the fetched files into (expression.tsv.gz, samples.tsv)
DATASET_PARSERS = {
    "xena": lambda files, out, p: dl.prepare_xena(files[0], files[1], out["expression"], out["samples"]),
    "gdc": lambda files, out, p: dl.prepare_gdc_matrix(files[0], out["expression"], out["samples"]),
    "gtex": lambda files, out, p: dl.prepare_gtex(files[0], files[1], out["expression"], out["samples"],
                                                  p.get("tissues")),
    "cgga": lambda files, out, p: dl.prepare_cgga(files[0], files[1], out["expression"], out["samples"]),
    "geo": lambda files, out, p: dl.prepare_geo(files[0], out["expression"], out["samples"], p.get("platform"),
                                                p.get("platform_field", "platform")),
}


def stage_embedded_bulk(job) -> None:
    """Rule stage_embedded_bulk: the shipped (or user's) matrix and sample sheet, verified and staged."""
    from gexflow.sheets import DEFAULT_ID_COLUMN, read_sheet

    sums = job.input.get("sums") or None
    # the sheet read as every later reader reads it (sheets.read_sheet): an unreadable one fails here, unstaged
    read_sheet(job.input["samples"], DEFAULT_ID_COLUMN)
    stage_file(job.input["matrix"], job.output["expression"], sums, compress=True)
    stage_file(job.input["samples"], job.output["samples"], sums)


def stage_embedded_single_cell(job) -> None:
    """Rule stage_embedded_single_cell: an .h5ad staged as it is, or a genes x cells TSV with its
    cell sheet written as AnnData (the dataset's columns)."""
    sums = job.input.get("sums") or None
    if job.input.get("samples"):
        from gexflow.staging import stage_single_cell_table

        stage_single_cell_table(job.input["matrix"], job.input["samples"], job.output["matrix"], sums,
                                job.params["job"]["staging"])
    else:
        stage_file(job.input["matrix"], job.output["matrix"], sums)


def stage_embedded_references(job) -> None:
    """Rule stage_embedded_references: the shipped KEGG / L1000 tables in the reference layout."""
    stage_references(job.input["kegg"], job.input["l1000"], job.input["entrez_map"], job.input.get("sums") or None,
                     job.output["kegg"], job.output["l1000"])


def _fetch_all(urls, settings: dict, tmp: Path, field: str) -> list[Path]:
    """Each URL fetched (cached, retried, checksummed); a local path (a GEO SOFT file the user
    already has) is used where it is."""
    files = []
    for i, url in enumerate(urls):
        if "://" not in str(url):
            if not Path(url).is_file():
                raise InputError(url, field, "local file does not exist", "fix the path, or give the file's URL")
            files.append(Path(url))
            continue
        files.append(dl.fetch(url, tmp / f"{i}_{dl.url_basename(url)}", sha256=settings.get("checksums", {}).get(url),
                              retries=settings["retries"], timeout=settings["timeout_s"],
                              backoff=settings["backoff_s"], cache_dir=settings["cache_dir"], field=field))
    return files


def download_dataset(job) -> None:
    """Rule download_dataset: fetch one remote dataset ({source}) and parse it into the staged layout."""
    p, w, out = job.params["job"], job.wildcards, job.output
    with tempfile.TemporaryDirectory(dir=Path(out["expression"]).parent.parent) as tmp:
        key = "soft" if w["source"] == "geo" else "source"
        files = _fetch_all(p["urls"], job.config["download"], Path(tmp), f"datasets.{w['dataset']}.{key}")
        extra = {"tissues": p.get("tissues"), "platform": p.get("source", {}).get("platform"),
                 "platform_field": f"datasets.{w['dataset']}.platform"}
        DATASET_PARSERS[w["source"]](files, out, extra)


def download_kegg(job) -> None:
    """Rule download_kegg: KEGG REST pathways and their Entrez members in the reference layout."""
    out = job.output["kegg"]
    with tempfile.TemporaryDirectory(dir=Path(out).parent.parent) as tmp:
        files = _fetch_all(job.params["job"]["kegg_urls"], job.config["download"], Path(tmp), "references.source")
        dl.prepare_kegg(files[0], files[1], out, job.input.get("entrez_map"))


def download_l1000(job) -> None:
    """Rule download_l1000: the LINCS L1000 landmark list in the reference layout."""
    out = job.output["l1000"]
    with tempfile.TemporaryDirectory(dir=Path(out).parent.parent) as tmp:
        files = _fetch_all(job.params["job"]["l1000_urls"], job.config["download"], Path(tmp), "references.source")
        dl.prepare_l1000(files[0], out)
