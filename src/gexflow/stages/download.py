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
    "geo": lambda files, out, p: dl.prepare_geo(files[0], out["expression"], out["samples"]),
}


def stage_embedded(inputs: dict, outputs: dict) -> None:
    """Rules stage_embedded_bulk / stage_embedded_single_cell."""
    sums = inputs.get("sums") or None
    if "expression" in outputs:
        stage_file(inputs["matrix"], outputs["expression"], sums, compress=True)
        stage_file(inputs["samples"], outputs["samples"], sums)
    elif inputs.get("samples"):  # single-cell TSV (genes x cells) + cell sheet -> AnnData
        from gexflow.staging import stage_single_cell_table

        stage_single_cell_table(inputs["matrix"], inputs["samples"], outputs["matrix"], sums, inputs["dataset"])
    else:
        stage_file(inputs["matrix"], outputs["matrix"], sums)


def stage_embedded_references(inputs: dict, outputs: dict) -> None:
    stage_references(inputs["kegg"], inputs["l1000"], inputs["entrez_map"], inputs.get("sums") or None,
                     outputs["kegg"], outputs["l1000"])


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


def download_dataset(source: str, urls, settings: dict, outputs: dict, params: dict, name: str = "<name>") -> None:
    """Rule download_dataset: fetch one remote dataset and parse it."""
    with tempfile.TemporaryDirectory(dir=Path(outputs["expression"]).parent.parent) as tmp:
        key = "soft" if source == "geo" else "source"
        files = _fetch_all(urls, settings, Path(tmp), f"datasets.{name}.{key}")
        DATASET_PARSERS[source](files, outputs, params)


def download_references(what: str, urls, settings: dict, outputs: dict, entrez_map=None) -> None:
    """Rules download_kegg / download_l1000."""
    out = outputs["kegg"] if what == "kegg" else outputs["l1000"]
    with tempfile.TemporaryDirectory(dir=Path(out).parent.parent) as tmp:
        files = _fetch_all(urls, settings, Path(tmp), "references.source")
        if what == "kegg":
            dl.prepare_kegg(files[0], files[1], out, entrez_map)
        else:
            dl.prepare_l1000(files[0], out)
