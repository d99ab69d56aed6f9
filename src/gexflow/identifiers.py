"""Gene identifiers of a user's matrix mapped to symbols and Entrez ids (org.Hs.eg.db table in
`references.entrez_map`): symbols, Entrez ids, Ensembl gene ids (versioned or not), TCGA's
`SYMBOL|ENTREZ` composites, and microarray probe ids through a platform annotation table, with
probes collapsed to genes by a documented rule. Every mapping is reported (mapped / unmapped /
ambiguous) so a wrong `gene_id_type` shows as a low mapping rate, not as empty gene sets later."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gexflow.errors import InputError

ID_TYPES = ("symbol", "entrez", "ensembl", "symbol_entrez", "probe")
EXAMPLES = {"symbol": "TP53, EGFR", "entrez": "7157, 1956", "ensembl": "ENSG00000141510(.17)",
            "symbol_entrez": "TP53|7157", "probe": "201746_at (with a probe annotation table)"}


def read_reference(entrez_map) -> pd.DataFrame:
    """entrez_id, symbol and ensembl_gene_ids (';'-joined) of every human Entrez gene."""
    return pd.read_csv(entrez_map, sep="\t", dtype=str, keep_default_na=False)


def _lookup(keys: pd.Series, table: pd.DataFrame, key: str, value: str) -> tuple[pd.Series, pd.Series]:
    """For each key: its value when the key maps to exactly one, and how many it maps to."""
    pairs = table[[key, value]].loc[lambda d: d[key] != ""].drop_duplicates()
    n = pairs.groupby(key)[value].nunique()
    first = pairs.drop_duplicates(key).set_index(key)[value]
    return keys.map(first).fillna(""), keys.map(n).fillna(0).astype(int)


def map_ids(ids, id_type: str, reference: pd.DataFrame, symbols=None) -> pd.DataFrame:
    """Per id: symbol, entrez_id and status (mapped: one Entrez gene; ambiguous: several;
    unmapped: none). `symbols` (a column of the matrix) overrides the symbol where given."""
    ids = pd.Series(pd.Index(ids).astype(str), index=pd.Index(ids).astype(str))
    given = None if symbols is None else pd.Series(np.asarray(symbols, dtype=str), index=ids.index)
    ref = reference
    if id_type == "symbol":
        sym = ids.copy() if given is None else given
        ent, n = _lookup(sym, ref, "symbol", "entrez_id")
    elif id_type == "entrez":
        ent = ids.str.strip()
        sym, n = _lookup(ent, ref, "entrez_id", "symbol")
        ent = ent.where(n > 0, "")
    elif id_type == "ensembl":
        ens = ids.str.replace(r"\.\d+$", "", regex=True)
        exploded = ref.assign(ensembl=ref["ensembl_gene_ids"].str.split(";")).explode("ensembl")
        ent, n = _lookup(ens, exploded, "ensembl", "entrez_id")
        sym, _ = _lookup(ent, ref, "entrez_id", "symbol")
    elif id_type == "symbol_entrez":
        parts = ids.str.split("|", n=1, expand=True).reindex(columns=[0, 1]).fillna("")
        part_sym, part_ent = parts[0], parts[1]
        by_ent, n_ent = _lookup(part_ent, ref, "entrez_id", "symbol")
        ent_by_sym, n_sym = _lookup(part_sym, ref, "symbol", "entrez_id")
        ent = part_ent.where(n_ent > 0, ent_by_sym)
        n = n_ent.where(n_ent > 0, n_sym)
        sym = part_sym.where(~part_sym.isin(["", "?"]), by_ent)
    else:
        raise ValueError(f"map_ids does not map {id_type!r} ids (probes go through map_probes)")
    if given is not None:
        sym = given
    status = np.where(n == 1, "mapped", np.where(n > 1, "ambiguous", "unmapped"))
    return pd.DataFrame({"symbol": sym.to_numpy(), "entrez_id": np.where(n == 1, ent, ""), "status": status},
                        index=ids.index)


def read_probe_annotation(path, id_column: str, symbol_column: str, entrez_column: str) -> pd.DataFrame:
    """A platform annotation table: plain TSV, or GEO's .annot(.gz) layout whose table sits between
    `!platform_table_begin` and `!platform_table_end` after header lines."""
    from gexflow.io import open_text

    with open_text(path) as fh:
        lines = fh.read().splitlines()
    if "!platform_table_begin" in lines:
        start = lines.index("!platform_table_begin") + 1
        end = lines.index("!platform_table_end") if "!platform_table_end" in lines else len(lines)
        lines = lines[start:end]
    import io

    table = pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", dtype=str, keep_default_na=False)
    for col in (id_column, symbol_column, entrez_column):
        if col not in table.columns:
            raise InputError(path, col, f"column not in the probe annotation (columns: {', '.join(table.columns[:8])})",
                             "set the dataset's `probe_annotation` id_column / symbol_column / entrez_column")
    return table[[id_column, symbol_column, entrez_column]].set_axis(["probe", "symbol", "entrez_id"], axis=1)


def map_probes(ids, annotation: pd.DataFrame) -> pd.DataFrame:
    """Per probe: symbol, entrez_id, status (`///` in the annotation = several genes = ambiguous)."""
    ann = annotation.drop_duplicates("probe").set_index("probe").reindex(pd.Index(ids).astype(str)).fillna("")
    several = ann["entrez_id"].str.contains("///") | ann["symbol"].str.contains("///")
    status = np.where(several, "ambiguous", np.where(ann["entrez_id"] != "", "mapped", "unmapped"))
    return pd.DataFrame({"symbol": ann["symbol"].where(~several, ""), "entrez_id": ann["entrez_id"].where(~several, ""),
                         "status": status}, index=ann.index)


def collapse_probes(X: np.ndarray, mapping: pd.DataFrame, rule: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Samples x probes -> samples x genes over the mapped probes, by `rule`: "max_mean" keeps the
    probe with the highest mean across samples (ties: the first), "mean" averages a gene's probes.
    Returns the matrix and the genes' (gene_id = symbol, symbol, entrez_id, probes) table."""
    keep = np.flatnonzero(mapping["status"].to_numpy() == "mapped")
    genes = mapping["symbol"].to_numpy()[keep]
    order = pd.Index(pd.unique(genes))
    cols = []
    for g in order:
        idx = keep[genes == g]
        if rule == "mean" or len(idx) == 1:
            cols.append(X[:, idx].mean(axis=1))
        else:
            cols.append(X[:, idx[int(np.argmax(X[:, idx].mean(axis=0)))]])
    n_probes = pd.Series(genes).value_counts()
    table = pd.DataFrame({"symbol": order, "entrez_id": mapping.iloc[keep].drop_duplicates("symbol")
                          .set_index("symbol").loc[order, "entrez_id"].to_numpy(),
                          "probes": n_probes.reindex(order).to_numpy()}, index=pd.Index(order, name="gene_id"))
    return (np.column_stack(cols) if cols else np.empty((X.shape[0], 0))), table


def mapping_report(mapping: pd.DataFrame) -> pd.DataFrame:
    """One row per status with counts and examples, plus the mapped fraction."""
    rows = []
    for status in ("mapped", "unmapped", "ambiguous"):
        ids = mapping.index[mapping["status"] == status]
        rows.append({"status": status, "ids": len(ids), "fraction": len(ids) / max(len(mapping), 1),
                     "examples": ", ".join(map(str, ids[:5]))})
    return pd.DataFrame(rows)


def check_mapping_rate(mapping: pd.DataFrame, id_type: str, floor: float, file) -> None:
    rate = float((mapping["status"] == "mapped").mean()) if len(mapping) else 0.0
    if rate < floor:
        shown = ", ".join(map(str, mapping.index[:3]))
        raise InputError(file, "gene_id_type", f"only {rate:.0%} of {len(mapping)} gene ids map to a gene as "
                         f"`gene_id_type: {id_type}` (ids look like: {shown}; expected e.g. {EXAMPLES[id_type]})",
                         f"set the dataset's `gene_id_type` to one of {', '.join(ID_TYPES)} (probes also need "
                         "`probe_annotation`), or lower `min_mapped_fraction`")



def annotation_platform(path) -> str:
    """The GPL id an annotation file names in its header (GEO .annot: `!Annotation_platform`)."""
    from gexflow.io import open_text

    try:
        with open_text(path) as fh:
            for _, line in zip(range(200), fh):
                key, _, value = line.partition(" = ")
                if key.strip() in ("!Annotation_platform", "^PLATFORM", "!Platform_geo_accession"):
                    return value.strip()
    except (OSError, UnicodeDecodeError, EOFError):
        pass
    return "unknown"


def map_matrix_ids(X: pd.DataFrame, genes: pd.DataFrame, ds: dict, entrez_map, file):
    """Map a matrix's gene ids (the dataset's `gene_id_type`); probes are collapsed to genes here,
    on the input scale. Returns (matrix, gene table, per-id mapping); refuses a mapping rate below
    `min_mapped_fraction`."""
    import logging

    log = logging.getLogger("gexflow.identifiers")
    id_type = ds.get("gene_id_type", "symbol")
    ref = read_reference(entrez_map)
    source = None
    if id_type == "probe" and not ds.get("probe_annotation"):  # a GSE family file's own platform table
        ann = pd.DataFrame({"probe": genes.index.astype(str), "symbol": genes["geo_symbol"].fillna("").astype(str),
                            "entrez_id": genes["geo_entrez"].fillna("").astype(str)})
        mapping = map_probes(genes.index, ann)
        source = f"the platform table of {ds.get('soft', file)} (platform {ds.get('platform') or 'its only one'})"
    elif id_type == "probe":
        pa = ds["probe_annotation"]
        ann = read_probe_annotation(pa["file"], pa.get("id_column", "ID"), pa.get("symbol_column", "Gene symbol"),
                                    pa.get("entrez_column", "Gene ID"))
        mapping = map_probes(genes.index, ann)
        source = f"{pa['file']} (platform {annotation_platform(pa['file'])})"
        covered = float(pd.Index(genes.index.astype(str)).isin(ann["probe"]).mean()) if len(genes) else 0.0
        if covered < 0.5:  # the probes are of another platform: gene_id_type is not the cause
            raise InputError(file, "probe_annotation", f"only {covered:.0%} of the matrix's {len(genes)} probes are "
                             f"in the annotation {source} (probes look like: {', '.join(map(str, genes.index[:3]))})",
                             "give the annotation of the matrix's own platform as `probe_annotation.file`")
    else:
        symbols = genes[ds["gene_symbol_column"]] if ds.get("gene_symbol_column") else None
        mapping = map_ids(genes.index, id_type, ref, symbols)
    check_mapping_rate(mapping, id_type, ds.get("min_mapped_fraction", 0.5), file)
    counts = mapping["status"].value_counts()
    log.info("%s: gene ids as %s: %d mapped, %d unmapped, %d ambiguous", file, id_type, counts.get("mapped", 0),
             counts.get("unmapped", 0), counts.get("ambiguous", 0))
    if id_type == "probe":
        rule = ds.get("probe_collapse", "max_mean")
        Xg, table = collapse_probes(X.to_numpy(), mapping, rule)
        log.info("%s: %d mapped probes collapsed to %d genes (%s); unmapped and ambiguous probes dropped", file,
                 counts.get("mapped", 0), Xg.shape[1], rule)
        return pd.DataFrame(Xg, index=X.index, columns=table.index), table, mapping
    return X, genes, mapping


def gene_table(genes: pd.DataFrame, ds: dict, entrez_map, mapping: pd.DataFrame | None = None) -> pd.DataFrame:
    """The AnnData var of the kept genes: gene ids as index, `symbol`, `entrez_id`, the dataset's
    annotation columns (and, for probes, the probes each gene was collapsed from)."""
    ids = genes.index.astype(str)
    var = pd.DataFrame(index=pd.Index(ids, name="gene_id"))
    id_type = ds.get("gene_id_type", "symbol")
    if id_type in ("ensembl", "symbol_entrez", "probe"):
        source = genes if id_type == "probe" else mapping.loc[ids]
        for col in ds.get("annotation_columns", []):  # per probe: gone once probes are collapsed
            if col in genes.columns:
                var[col] = genes[col].astype(str).to_numpy()
        var["symbol"] = source["symbol"].astype(str).to_numpy()
        var["entrez_id"] = source["entrez_id"].astype(str).to_numpy()
        if id_type == "probe":
            var["probes"] = genes["probes"].to_numpy()
        return var
    for col in ds.get("annotation_columns", []):
        var[col] = genes[col].astype(str).to_numpy()
    emap = pd.read_csv(entrez_map, sep="\t", dtype=str, usecols=["entrez_id", "symbol"])
    if ds.get("gene_symbol_column"):
        var["symbol"] = genes[ds["gene_symbol_column"]].astype(str).to_numpy()
    elif id_type == "entrez":
        var["symbol"] = ids.map(dict(zip(emap["entrez_id"], emap["symbol"]))).fillna("")
    else:
        var["symbol"] = ids
    if "entrez_id" not in var.columns:
        if id_type == "entrez":
            var["entrez_id"] = ids
        else:
            var["entrez_id"] = var["symbol"].map(dict(zip(emap["symbol"], emap["entrez_id"]))).fillna("")
    return var
