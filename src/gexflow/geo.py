"""GEO SOFT files: a cheap header scan (record kind, platforms with their sample and probe
counts) for the pre-run config checks, and a GSE family file read for one platform (its value
table, the platform table as probe annotation, one sheet column per `!Sample_*` field)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from gexflow.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("gexflow.geo")

# Platform-table columns holding the gene symbol / Entrez id, matched case-insensitively.
SYMBOL_NAMES = ("gene symbol", "gene_symbol", "symbol", "gene_assignment_symbol", "genesymbol")
ENTREZ_NAMES = ("entrez_gene_id", "gene id", "gene_id", "entrez", "entrez gene id", "entrezgeneid", "entrez_id")
# Columns the staged expression table of a GSE family file carries beside the probe id.
FILE_ANNOTATION = ("geo_symbol", "geo_entrez")


def _open(path):
    from gexflow.io import open_text

    return open_text(path)


def scan_soft(path) -> dict:
    """Record kind (GDS / GSE / other), and per platform its title, samples and probes, reading
    only the `^`/`!` lines (table rows are counted, not parsed): cheap enough for parse time."""
    info = {"kind": None, "platforms": {}, "dataset_platform": None}
    current, in_table, table_rows = None, False, 0
    with _open(path) as fh:
        for line in fh:
            if in_table:
                if line.startswith("!platform_table_end"):
                    info["platforms"][current]["probes"] = max(table_rows - 1, 0)  # minus the header line
                    in_table = False
                else:
                    table_rows += 1
                continue
            if line[0] not in "^!":
                continue
            key, _, value = line.rstrip("\n").partition(" = ")
            if key.startswith("^") and info["kind"] is None:
                info["kind"] = {"^DATASET": "GDS", "^SERIES": "GSE"}.get(key, key.lstrip("^"))
            if key == "^PLATFORM":
                current = value.strip()
                info["platforms"].setdefault(current, {"title": "", "samples": 0, "probes": 0})
            elif key == "!Platform_title" and current in info["platforms"]:
                info["platforms"][current]["title"] = value.strip()
            elif key == "!platform_table_begin":
                in_table, table_rows = True, 0
            elif key == "!Sample_platform_id":
                info["platforms"].setdefault(value.strip(), {"title": "", "samples": 0, "probes": 0})
                info["platforms"][value.strip()]["samples"] += 1
            elif key == "!dataset_platform":
                info["dataset_platform"] = value.strip()
    return info


def platform_listing(platforms: dict) -> str:
    return "; ".join(f"{p} '{v['title']}' ({v['samples']} samples, {v['probes']} probes)"
                     for p, v in platforms.items())


def check_platform(info: dict, chosen, file, field: str) -> str | None:
    """The platform a GSE family file is read for: the chosen one, or its only one. Several and
    none chosen, or an id the file lacks, is one line listing the file's platforms."""
    platforms = info["platforms"]
    if chosen is None and len(platforms) <= 1:
        return next(iter(platforms), None)
    if chosen is not None and chosen in platforms:
        return chosen
    problem = (f"holds {len(platforms)} platforms and none is chosen" if chosen is None
               else f"has no platform '{chosen}'") + f": {platform_listing(platforms)}"
    raise InputError(file, field, problem, f"set `{field}` to one of {', '.join(platforms)}")


def find_column(columns, names) -> str | None:
    low = {str(c).strip().lower(): c for c in columns}
    return next((low[n] for n in names if n in low), None)


def platform_annotation(table: pd.DataFrame, file, platform: str) -> pd.DataFrame:
    """probe, symbol, entrez_id from a platform table, its columns found by name."""
    import pandas as pd

    sym, ent = find_column(table.columns, SYMBOL_NAMES), find_column(table.columns, ENTREZ_NAMES)
    if sym is None or ent is None:
        raise InputError(file, f"platform {platform} table", "has no gene symbol and Entrez id columns (columns: "
                         f"{', '.join(map(str, table.columns[:10]))})",
                         "give the platform's annotation as the dataset's `probe_annotation`")
    out = pd.DataFrame({"probe": table["ID"].astype(str), "symbol": table[sym].fillna("").astype(str),
                        "entrez_id": table[ent].fillna("").astype(str)})
    # numeric Entrez ids read as floats (e.g. 1234.0) are written back as integers
    out["entrez_id"] = out["entrez_id"].str.replace(r"\.0$", "", regex=True)
    return out


def _snake(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


KV_EQ = re.compile(r"([A-Za-z][\w .-]*?)\s*=\s*([^;,]+)")


def sample_row(name: str, metadata: dict) -> dict:
    """One sheet row: every `!Sample_*` field (several values joined by '; '), one column per
    `key: value` characteristic and per `key = value` pair in the description."""
    row = {"sample_id": name}
    for key, values in metadata.items():
        if key in ("geo_accession", "characteristics_ch1"):
            continue
        row[_snake(key)] = "; ".join(v.strip() for v in values)
    for item in metadata.get("characteristics_ch1", []):
        key, sep, value = item.partition(":")
        if sep:
            row.setdefault(_snake(key), value.strip())
    for text in metadata.get("description", []):
        for key, value in KV_EQ.findall(text):
            row.setdefault(_snake(key), value.strip())
    return row


def read_gse_family(geo, file, platform: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(expression table: probe_id, geo_symbol, geo_entrez, one VALUE column per sample;
    sample sheet) of one platform of a parsed GEOparse GSE: never several platforms merged."""
    import pandas as pd

    gsms = {n: g for n, g in geo.gsms.items() if g.metadata.get("platform_id", [""])[0] == platform}
    if not gsms:
        raise InputError(file, "platform", f"no sample of platform {platform}", "choose a platform with samples")
    gpl = geo.gpls[platform]
    ann = platform_annotation(gpl.table, file, platform)
    values = pd.concat({n: g.table.set_index(g.table["ID_REF"].astype(str))["VALUE"] for n, g in gsms.items()},
                       axis=1)
    probes = ann["probe"]
    not_in_platform = values.index.difference(probes)
    if len(not_in_platform):
        log.warning("%s: %d sample rows name probes not in platform %s's table; left out", file,
                    len(not_in_platform), platform)
    values = values.reindex(probes)  # the platform's probes, in its order; missing cells stay NaN
    table = pd.DataFrame({"probe_id": probes.to_numpy(), "geo_symbol": ann["symbol"].to_numpy(),
                          "geo_entrez": ann["entrez_id"].to_numpy()})
    table = pd.concat([table, values.reset_index(drop=True)], axis=1)
    sheet = pd.DataFrame([sample_row(n, g.metadata) for n, g in gsms.items()]).fillna("")
    others = len(geo.gsms) - len(gsms)
    log.info("%s: platform %s: %d samples x %d probes (%d samples of other platforms left out)", file, platform,
             len(gsms), len(table), others)
    return table, sheet


def uses_file_annotation(ds: dict) -> bool:
    """A GEO probe dataset without `probe_annotation`: its GSE platform table annotates the probes
    (the config check requires `probe_annotation` for every other probe dataset)."""
    return ds.get("source") == "geo" and ds.get("gene_id_type") == "probe" and not ds.get("probe_annotation")


def annotation_columns(ds: dict, matrix_file) -> list[str]:
    """The dataset's annotation columns plus the platform-table columns a staged GSE table has
    (present whether or not `probe_annotation` is given)."""
    from gexflow.io import header_fields

    cols = list(ds.get("annotation_columns", []))
    if ds.get("source") != "geo":
        return cols
    header = header_fields(matrix_file)
    return cols + [c for c in FILE_ANNOTATION if c in header and c not in cols]
