"""Staging shipped (embedded) files: verify their sha256 against resources/SHA256SUMS, copy
atomically into the stage directory, and normalise reference tables to one column layout."""

from __future__ import annotations

import gzip
import logging
import shutil

import pandas as pd

from gexflow.errors import InputError
from gexflow.io import atomic_path, expected_sha256, sha256_file, write_tsv

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


def stage_file(src, dest, sums_file, compress: bool = False) -> None:
    verify_shipped(src, sums_file)
    with atomic_path(dest) as tmp:
        if compress and not str(src).endswith(".gz"):
            with open(src, "rb") as fi, gzip.open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        else:
            shutil.copyfile(src, tmp)


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
