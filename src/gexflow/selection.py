"""Gene selection: KEGG pathway members, DEGs, L1000 landmarks, and unions/intersections of
those, each mapped onto one dataset's gene ids. Output layout: gene_id, symbol, source."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import pandas as pd

from gexflow.errors import InputError

log = logging.getLogger("gexflow.selection")

COLUMNS = ["gene_id", "symbol", "source"]


def map_to_dataset(members: pd.DataFrame, var: pd.DataFrame, symbol_columns=("symbol",)) -> pd.Series:
    """For each member row (entrez_id + symbol columns), the dataset gene id it maps to, or NaN.

    Entrez ids first (stable across renames); symbols for what is left, since the expression
    tables carry their own era's HGNC symbols.
    """
    by_entrez = {}
    if "entrez_id" in var.columns:
        by_entrez = {e: g for g, e in zip(var.index, var["entrez_id"].astype(str)) if e not in ("", "nan")}
    by_symbol = {s: g for g, s in zip(var.index, var["symbol"].astype(str))}
    hit = members["entrez_id"].astype(str).map(by_entrez)
    for col in symbol_columns:
        if col in members.columns:
            hit = hit.fillna(members[col].astype(str).map(by_symbol))
    return hit


def select_kegg(kegg: pd.DataFrame, var: pd.DataFrame, pathways: list[str],
                kegg_file="kegg") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Members of the given hsa pathways found in the data, and a per-pathway coverage report."""
    known = kegg.drop_duplicates("pathway_id").set_index("pathway_id")["pathway_name"]
    for pid in pathways:
        if pid not in known.index:
            close = difflib.get_close_matches(pid, known.index, n=3, cutoff=0.6)
            by_name = [i for i, n in known.items() if pid.lower() in str(n).lower()][:3]
            options = [f"{i} ({known[i]})" for i in dict.fromkeys(close + by_name)]
            raise InputError(kegg_file, "select.sets.*.pathways", f"unknown KEGG pathway '{pid}' (this table is "
                             f"the {kegg_build(kegg_file)} build, {known.size} pathways)",
                             "use an hsa id from the KEGG table"
                             + (f"; close matches: {', '.join(options)}" if options else "")
                             + "; for a pathway the shipped build lacks, give its genes as a GMT file "
                             "(`method: gmt`) or set `references.source: remote` (KEGG REST, needs network)")
    genes, coverage = [], []
    for pid in pathways:
        members = kegg[kegg["pathway_id"] == pid].drop_duplicates("entrez_id").copy()
        members["gene_id"] = map_to_dataset(members, var).to_numpy()
        found = members.dropna(subset=["gene_id"])
        missing = members[members["gene_id"].isna()]
        coverage.append({"set": pid, "name": known[pid], "in_set": len(members), "found_in_data": len(found),
                         "missing": len(missing),
                         "missing_genes": _names(missing["symbol"], missing.get("entrez_id"))})
        genes.append(pd.DataFrame({"gene_id": found["gene_id"], "source": f"kegg:{pid}"}))
    out = pd.concat(genes).groupby("gene_id", sort=False)["source"].agg(";".join).reset_index()
    return _with_symbols(out, var), pd.DataFrame(coverage)


def kegg_build(kegg_file) -> str:
    """Which KEGG release a staged table is: the shipped one is gage's 2017 data."""
    return "remote (KEGG REST)" if "download-remote" in str(kegg_file) else "shipped KEGG 2017 (gage kegg.gs)"


def read_gmt(path) -> dict[str, tuple[str, list[str]]]:
    """A GMT gene-set file: name -> (description, genes); genes are symbols or Entrez ids."""
    from gexflow.io import open_text

    sets = {}
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise InputError(path, f"line {n}", "a GMT line needs a name, a description and genes, "
                                 "tab-separated", "fix that line")
            sets[parts[0]] = (parts[1], [g for g in parts[2:] if g])
    return sets


def select_gmt(gmt_path, var: pd.DataFrame, names: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Members of the named sets of a GMT file (all sets when `names` is empty) found in the data,
    mapped by Entrez id (numeric members) or symbol, and a per-set coverage report."""
    sets = read_gmt(gmt_path)
    for name in names or []:
        if name not in sets:
            close = difflib.get_close_matches(name, list(sets), n=3, cutoff=0.5)
            raise InputError(gmt_path, "select.sets.*.names", f"no gene set '{name}' in the GMT file",
                             f"use one of its {len(sets)} set names" + (f", e.g. {', '.join(close)}" if close else ""))
    genes, coverage = [], []
    for name in names or list(sets):
        desc, members = sets[name]
        m = pd.DataFrame({"member": members}).drop_duplicates()
        numeric = m["member"].str.fullmatch(r"\d+")
        m["entrez_id"] = m["member"].where(numeric, "")
        m["symbol"] = m["member"].where(~numeric, "")
        m["gene_id"] = map_to_dataset(m, var).to_numpy()
        found, missing = m.dropna(subset=["gene_id"]), m[m["gene_id"].isna()]
        coverage.append({"set": name, "name": desc, "in_set": len(m), "found_in_data": len(found),
                         "missing": len(missing), "missing_genes": _names(missing["member"])})
        genes.append(pd.DataFrame({"gene_id": found["gene_id"], "source": f"gmt:{name}"}))
    out = pd.concat(genes).groupby("gene_id", sort=False)["source"].agg(";".join).reset_index()
    return _with_symbols(out, var), pd.DataFrame(coverage)


def select_list(path, var: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A gene list file: a gexflow genes.tsv (e.g. the learned landmarks an inference experiment
    writes) or any TSV with a gene_id, symbol or entrez_id column, or one gene per line; mapped
    onto the dataset by Entrez id, then symbol, then gene id."""
    from gexflow.io import open_text

    with open_text(path) as fh:
        first = fh.readline().rstrip("\r\n").split("\t")
    if any(c in first for c in ("gene_id", "symbol", "entrez_id")):
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    else:
        table = pd.read_csv(path, sep="\t", dtype=str, header=None, usecols=[0], names=["symbol"])
    members = pd.DataFrame({"entrez_id": table.get("entrez_id", ""), "symbol": table.get("symbol", "")},
                           index=table.index)
    hit = map_to_dataset(members, var)
    if "gene_id" in table.columns:
        hit = hit.fillna(table["gene_id"].where(table["gene_id"].isin(var.index)))
    found = hit.dropna().drop_duplicates()
    missing = table.loc[hit.isna()].iloc[:, 0].astype(str)
    coverage = pd.DataFrame([{"set": "list", "name": str(path), "in_set": len(table), "found_in_data": len(found),
                              "missing": len(missing), "missing_genes": _names(missing)}])
    return _with_symbols(pd.DataFrame({"gene_id": found.to_numpy(), "source": f"list:{Path(path).name}"}), var), \
        coverage


def _names(names: pd.Series, fallback: pd.Series | None = None) -> str:
    """The missing genes as a comma list: a blank symbol is named by its Entrez id where there is
    one, never as 'nan'; one with neither is counted as '(N without a name)'."""
    names = names.astype(object).where(names.notna() & ~names.astype(str).isin(["", "nan"]))
    if fallback is not None:
        fb = fallback.astype(object).where(fallback.notna() & ~fallback.astype(str).isin(["", "nan"]))
        names = names.fillna(fb.map(lambda e: f"entrez:{e}", na_action="ignore"))
    named = [str(n) for n in names if pd.notna(n)]
    unnamed = int(names.isna().sum())
    return ",".join(named + ([f"({unnamed} without a name)"] if unnamed else []))


def select_l1000(landmarks: pd.DataFrame, var: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    lm = landmarks.drop_duplicates("entrez_id").copy()
    lm["gene_id"] = map_to_dataset(lm, var, symbol_columns=("symbol", "symbol_lincs")).to_numpy()
    found = lm.dropna(subset=["gene_id"]).drop_duplicates("gene_id")
    missing = lm[lm["gene_id"].isna()]
    coverage = pd.DataFrame([{"set": "l1000", "name": "LINCS L1000 landmark genes", "in_set": len(lm),
                              "found_in_data": len(found), "missing": len(missing),
                              "missing_genes": _names(missing["symbol"], missing.get("entrez_id"))}])
    out = pd.DataFrame({"gene_id": found["gene_id"], "source": "l1000"})
    return _with_symbols(out, var), coverage


def select_degs(degs: pd.DataFrame, top_n: int | None, correction: str,
                deg_file="degs.tsv") -> tuple[pd.DataFrame, pd.DataFrame]:
    hits = degs[degs["deg"].astype(bool)]
    if hits.empty:
        raise InputError(deg_file, "deg", "the DEG set is empty, so there are no genes to select",
                         "loosen `deg.alpha`, `deg.log2fc_threshold` or `deg.correction: fdr_bh`, "
                         "or choose another gene selection")
    p_col = "p_bonferroni" if correction == "bonferroni" else "p_bh"
    hits = hits.sort_values([p_col, "pvalue"], kind="mergesort")
    if top_n:
        hits = hits.head(top_n)
    out = pd.DataFrame({"gene_id": hits["gene_id"].astype(str), "symbol": hits["symbol"].astype(str), "source": "deg"})
    coverage = pd.DataFrame([{"set": "deg", "name": "differentially expressed genes", "in_set": int(degs["deg"].sum()),
                              "found_in_data": len(out), "missing": 0, "missing_genes": ""}])
    return out[COLUMNS], coverage


def combine(lists: list[pd.DataFrame], how: str) -> pd.DataFrame:
    """Union (first list's order, then new genes) or intersection of gene lists; sources joined."""
    if how == "intersection":
        common = set(lists[0]["gene_id"])
        for g in lists[1:]:
            common &= set(g["gene_id"])
        lists = [g[g["gene_id"].isin(common)] for g in lists]
    allg = pd.concat(lists)
    out = allg.groupby("gene_id", sort=False).agg(symbol=("symbol", "first"), source=("source", ";".join)).reset_index()
    return out[COLUMNS]


def _with_symbols(genes: pd.DataFrame, var: pd.DataFrame) -> pd.DataFrame:
    genes = genes.copy()
    genes["symbol"] = var.loc[genes["gene_id"], "symbol"].astype(str).to_numpy()
    return genes[COLUMNS].reset_index(drop=True)
