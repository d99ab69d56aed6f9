"""Staging shipped (embedded) files: verify their sha256 against resources/SHA256SUMS, copy
atomically into the stage directory, and normalise reference tables to one column layout."""

from __future__ import annotations

import gzip
import logging
import shutil

import pandas as pd

from gexflow.errors import InputError
from gexflow.io import atomic_path, expected_sha256, sha256_file, write_sidecar, write_tsv

log = logging.getLogger("gexflow.staging")


def verify_shipped(path, sums_file) -> str:
    """Check a shipped file against SHA256SUMS; files not listed there (user data) are reported."""
    got = sha256_file(path)
    want = expected_sha256(path, sums_file)
    if want is None:
        log.info("%s: sha256 %s (not listed in %s: user-supplied file, no checksum to verify)", path, got, sums_file)
    elif got != want:
        raise InputError(path, "sha256",
                         f"is {got}, but {sums_file} records {want}: the file is corrupt or was modified",
                         "restore it with `git checkout -- " + str(path)
                         + "` (or update SHA256SUMS if the change is intended)")
    else:
        log.info("%s: sha256 %s verified", path, got)
    return got


def is_gzip(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def check_gzip_stream(path) -> None:
    """Read a gzip file to its end: a truncated or damaged one fails here, naming the file,
    instead of deep inside a later reader."""
    import zlib

    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as e:
        raise InputError(path, "(whole file)", f"is a truncated or damaged gzip file ({type(e).__name__}: {e})",
                         "copy or download it again and compare its sha256 with the source's") from None


def stage_file(src, dest, sums_file, compress: bool = False) -> None:
    """Verify `src` and copy it to `dest`: gzip-compressed when `compress` (the matrix), plain
    otherwise (a gzipped sample sheet is decompressed); a gzip source is read to its end first."""
    from gexflow.config import special_file

    kind = special_file(src)
    if kind:  # refused before opening: a FIFO would block for ever
        raise InputError(src, "(whole file)", f"is {kind}, not a regular file", "give the path of the file itself")
    verify_shipped(src, sums_file)
    src_gz = is_gzip(src)
    if src_gz:
        check_gzip_stream(src)
    with atomic_path(dest) as tmp:
        if compress and not src_gz:
            with open(src, "rb") as fi, gzip.open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        elif src_gz and not compress and not str(dest).endswith(".gz"):
            with gzip.open(src, "rb") as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        else:
            shutil.copyfile(src, tmp)
    write_sidecar(dest)


KEGG_RENAME = {"symbol_orghs_2022": "symbol"}
L1000_RENAME = {"symbol_orghs_2022": "symbol", "gene_symbol_lincs": "symbol_lincs", "gene_title_lincs": "gene_title"}


def _normalise(path, rename: dict, required: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", dtype=str).rename(columns=rename)
    for col in required:
        if col not in table.columns:
            raise InputError(path, col, "column missing", f"the table needs columns {', '.join(required)}")
    return table[required + [c for c in table.columns if c not in required]]


def stage_references(kegg, l1000, entrez_map, sums_file, kegg_out, l1000_out) -> None:
    for f in (kegg, l1000, entrez_map):
        verify_shipped(f, sums_file)
    write_tsv(_normalise(kegg, KEGG_RENAME, ["pathway_id", "pathway_name", "entrez_id", "symbol"]), kegg_out)
    write_tsv(_normalise(l1000, L1000_RENAME, ["entrez_id", "symbol"]), l1000_out)


def stage_single_cell_table(matrix, samples, dest, sums_file, ds: dict) -> None:
    """A single-cell genes x cells TSV (e.g. HSMM FPKM) and its cell sheet, both verified
    against SHA256SUMS, written as one AnnData (cells x genes, values unchanged; `var` keeps the
    gene id and the dataset's `gene_symbol_column` as `symbol`)."""
    import anndata as ad
    import numpy as np

    from gexflow.io import read_expression_table, write_h5ad
    from gexflow.sheets import read_sample_sheet

    verify_shipped(matrix, sums_file)
    verify_shipped(samples, sums_file)
    sym = ds.get("gene_symbol_column")
    X, genes = read_expression_table(matrix, ds["gene_id_column"], [sym] if sym else [],
                                     duplicates=ds.get("duplicate_gene_ids", "error"),
                                     missing=ds.get("missing_values", "error"))
    from gexflow.sheets import id_column

    sheet = read_sample_sheet(samples, id_column(ds), list(ds.get("categorical_covariates", [])), X.index)
    X = X.loc[sheet.index]
    obs = sheet.astype(str)
    obs.index = pd.Index(obs.index.astype(str), name=None)
    var = pd.DataFrame({"symbol": genes[sym].astype(str).to_numpy() if sym else genes.index.astype(str)},
                       index=pd.Index(genes.index.astype(str), name=None))
    write_h5ad(ad.AnnData(X=X.to_numpy(dtype=np.float32), obs=obs, var=var), dest)
    log.info("%s: staged %d cells x %d genes as AnnData (values unchanged)", matrix, *X.shape)
