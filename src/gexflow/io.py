"""Reading and atomically writing gexflow's tables and matrices.

Matrices pass between stages as AnnData `.h5ad` (samples x genes, covariates in `obs`,
gene ids and symbols in `var`); tables as TSV. Every write goes to a temporary file in the
destination directory and is renamed into place, so a failed or interrupted step never
leaves a partial output behind.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import json
import logging
import os
import tempfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from gexflow.errors import InputError

log = logging.getLogger("gexflow.io")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (set-and-restore would
    briefly expose other threads' new files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `dest`; rename it onto `dest` only if the block succeeds.

    The result gets the permissions of a plainly created file (0644 under umask 022; mkstemp
    alone would leave 0600). Temporary files of `dest` orphaned by a killed earlier write are
    removed first."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".part" + "".join(dest.suffixes)
    for orphan in dest.parent.glob(f".{glob.escape(dest.name)}.*{glob.escape(suffix)}"):
        log.info("removing %s, left by an interrupted write of %s", orphan.name, dest)
        orphan.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_tsv(df: pd.DataFrame, dest, index: bool = False) -> None:
    """A TSV (gzipped for a .gz name, byte-reproducibly: no time stamp or file name in the gzip
    header), with its sha256 recorded beside it so that the job reading it can verify it."""
    text = df.to_csv(sep="\t", index=index).encode()
    data = gzip.compress(text, mtime=0) if str(dest).endswith(".gz") else text
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    write_sidecar(dest, data)


def write_json(obj, dest) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode()
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    write_sidecar(dest, data)


# The rule that writes each intermediate: a damaged one names the job to rerun. By file name, or
# (for names several rules write) by the name's directory prefix.
PRODUCERS = {"filtered.h5ad": "filter_normalise", "synthetic.h5ad": "train_generator",
             "matrix.h5ad": "stage_embedded_single_cell", "split.tsv": "split_samples", "degs.tsv": "call_degs",
             "predictions.h5ad": "train_inference_model", "embedding.h5ad": "train_embedding",
             "gene_embedding.h5ad": "train_embedding", "masked_entries.tsv.gz": "train_embedding",
             "per_gene.tsv": "evaluate_inference", "kegg_pathways.tsv": "stage_embedded_references",
             "l1000_landmarks.tsv": "stage_embedded_references"}
PRODUCER_DIRS = {"learned-": "learn_landmarks", "select-": "select_genes", "evaluation-": "the evaluation rule",
                 "split-": "split_samples", "release-": "the release rule"}


def producer_of(path) -> str:
    """The rule whose job writes `path` (for the fix of a damaged-file message)."""
    path = Path(path)
    if path.name in PRODUCERS:
        return PRODUCERS[path.name]
    for part in reversed(path.parts[:-1]):
        for prefix, rule in PRODUCER_DIRS.items():
            if part.startswith(prefix):
                return rule
    return "the rule that wrote it"


def sidecar(path) -> Path:
    """The sha256 recorded beside an intermediate when it was written."""
    path = Path(path)
    return path.with_name(f".{path.name}.sha256")


def write_sidecar(dest, data: bytes | None = None) -> None:
    """Record the sha256 of `dest` (of `data`, the bytes just written there, when given)."""
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(dest)
    with atomic_path(sidecar(dest)) as tmp:
        tmp.write_text(digest + "\n")


def rebuild_fix(path, producer: str | None = None) -> str:
    rule = producer or producer_of(path)
    return (f"rebuild it: `snakemake --forcerun {rule}` (with your usual --configfile), or delete the file and "
            "rerun")


def verify_sidecar(path, producer: str | None = None, required: bool = True) -> None:
    """Check an intermediate against the sha256 recorded when it was written. A changed file, or
    (when `required`) a missing record, is damage: one line naming the job that rebuilds it."""
    path = Path(path)
    fix = rebuild_fix(path, producer)
    record = sidecar(path)
    if not record.exists():
        if required:
            raise InputError(path, "(whole file)", f"has no integrity record ({record.name}): it was not written "
                             "by the job that should have written it, or the record was deleted", fix)
        return
    if sha256_file(path) != record.read_text().strip():
        raise InputError(path, "(whole file)", "changed or damaged since it was written (sha256 differs from the "
                         f"one recorded in {record.name})", fix)


def write_h5ad(adata, dest) -> None:
    with atomic_path(dest) as tmp:
        adata.write_h5ad(tmp)
        digest = sha256_file(tmp)
    with atomic_path(sidecar(dest)) as tmp:
        tmp.write_text(digest + "\n")


def read_h5ad(path, backed=None):
    """Read an intermediate AnnData, checking it against the sha256 recorded when it was written;
    a damaged, truncated or unrecorded file stops with one line naming the step that rebuilds it."""
    import anndata as ad

    path = Path(path)
    verify_sidecar(path)
    try:
        return ad.read_h5ad(path, backed=backed)
    except Exception as e:  # h5py and anndata raise many types for a damaged file
        raise InputError(path, "(whole file)", f"cannot be read as AnnData ({type(e).__name__}: {e})",
                         rebuild_fix(path)) from None


def read_json(path) -> dict:
    """A JSON record another job wrote (a model card), verified against its sha256 record."""
    verify_sidecar(path)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, "(whole file)", f"is not valid JSON ({e})", rebuild_fix(path)) from None


def read_intermediate(path, **kwargs) -> pd.DataFrame:
    """A TSV another job wrote (verified against its sha256 record, then read; `dtype=str` etc.
    pass through to pandas)."""
    verify_sidecar(path)
    return read_table(path, "intermediate table", rebuild_fix(path), **kwargs)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray,)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_sha256sums(path) -> dict[str, str]:
    """Parse a `sha256sum`-format file into {relative path: hex digest}."""
    sums = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise InputError(path, f"line {n}", f"not a '<sha256>  <path>' line: {line!r}",
                             "regenerate it with `sha256sum` from the resources directory")
        sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def expected_sha256(path, sums_file) -> str | None:
    """The checksum `sums_file` records for `path` (paths in it are relative to its directory)."""
    if not sums_file:
        return None
    sums_file = Path(sums_file)
    if not sums_file.exists():
        return None
    try:
        rel = Path(path).resolve().relative_to(sums_file.parent.resolve())
    except ValueError:
        return None
    return read_sha256sums(sums_file).get(rel.as_posix())


def open_text(path):
    """A text handle of a plain or gzipped file (by its magic bytes, not its name)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    # utf-8-sig: a byte-order mark (Excel's "UTF-8 CSV") is dropped, not glued to the first header
    return gzip.open(path, "rt", encoding="utf-8-sig") if magic == b"\x1f\x8b" else open(path, encoding="utf-8-sig")


# pandas' default missing-value markers, kept for the value columns of a matrix
DEFAULT_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
              "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def read_table(path, what: str, fix: str, **kwargs) -> pd.DataFrame:
    """pd.read_csv (tab-separated unless `sep` is given, plain or gzipped) with every way a file
    can be unreadable turned into one line naming the file: empty, truncated or damaged gzip,
    not UTF-8, not a table."""
    kwargs.setdefault("sep", "\t")
    try:
        with open_text(path) as fh:
            table = pd.read_csv(fh, **kwargs)
    except FileNotFoundError:
        raise InputError(path, "(whole file)", "does not exist", fix) from None
    except pd.errors.EmptyDataError:
        raise InputError(path, "(whole file)", f"is empty: no header and no rows ({what})", fix) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise InputError(path, "(whole file)", f"is a truncated or damaged gzip file ({type(e).__name__}: {e})",
                         "copy or download it again and compare its sha256 with the source's") from None
    except UnicodeDecodeError as e:
        raise InputError(path, "(whole file)", f"is not UTF-8 text (byte {e.start}: {e.reason})",
                         "save it as UTF-8 tab-separated text") from None
    except (OSError, pd.errors.ParserError) as e:
        raise InputError(path, "(whole file)", f"cannot be read as a table ({type(e).__name__}: {e})", fix) from None
    if kwargs["sep"] == "\t" and table.shape[1] == 1:
        # one column whose header holds commas or semicolons: a CSV given where a TSV is expected
        for sep, name in ((",", "comma"), (";", "semicolon")):
            if str(table.columns[0]).count(sep) >= 1:
                raise InputError(path, "(whole file)", f"looks {name}-separated: its header has no tab but "
                                 f"{str(table.columns[0]).count(sep)} {name}s", f"save it tab-separated (TSV): {fix}")
    return table


def header_fields(path, sep: str = "\t") -> list[str]:
    """The first line's fields, read before pandas renames duplicates ('x' -> 'x.1')."""
    try:
        with open_text(path) as fh:
            return fh.readline().rstrip("\r\n").split(sep)  # open_text drops a BOM
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return []  # read_table reports it


def read_expression_table(path, gene_id_column: str, annotation_columns: list[str] = (),
                          duplicates: str = "error", missing: str = "error") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a genes x samples TSV. Returns (samples x genes float matrix, per-gene annotation).

    Refuses a missing id column, non-numeric or missing values, and duplicate gene ids; with
    `duplicates="drop_identical"`, rows repeating a gene id with identical values (one gene
    listed once per Ensembl id) are collapsed to the first, and differing duplicates still fail.
    With `missing="drop_genes"`, genes with any missing value are dropped (and counted in the log).
    """
    header = header_fields(path)
    # gene ids and annotations are text: "NA", "NULL" or "None" is a gene name, not a missing value
    text_cols = [c for c in (gene_id_column, *annotation_columns) if c in header]
    raw = read_table(path, "expression matrix", "point the dataset's `matrix` at a genes x samples TSV "
                     "(optionally .gz)", low_memory=False, dtype={c: str for c in text_cols},
                     keep_default_na=False, na_values={c: DEFAULT_NA for c in header if c not in text_cols})
    dup_cols = sorted({c for c in header if header.count(c) > 1})
    if dup_cols:
        raise InputError(path, dup_cols[0], f"{len(dup_cols)} column names appear more than once in the header "
                         f"(e.g. {', '.join(dup_cols[:3])})", "give every sample a unique column name")
    if raw.empty:
        raise InputError(path, "(rows)", "has a header but no gene rows", "use the complete matrix file")
    if gene_id_column not in raw.columns:
        raise InputError(path, gene_id_column, f"gene id column not found (columns start {list(raw.columns[:4])})",
                         "set the dataset's `gene_id_column` to the name of the first column")
    missing_ann = [c for c in annotation_columns if c not in raw.columns]
    if missing_ann:
        raise InputError(path, missing_ann[0], "annotation column not found",
                         "remove it from the dataset's `annotation_columns` or fix its spelling")
    raw[gene_id_column] = raw[gene_id_column].str.strip()
    empty = raw.index[raw[gene_id_column].isin(["", "nan"]) | raw[gene_id_column].isna()]
    if len(empty):
        raise InputError(path, gene_id_column, f"{len(empty)} rows have no gene id (first at data row {empty[0] + 1})",
                         "fill in the gene id of every row, or remove those rows")
    ids = raw[gene_id_column].astype(str)
    if duplicates == "drop_identical":
        value_cols = [c for c in raw.columns if c not in (gene_id_column, *annotation_columns)]
        same = raw.duplicated(subset=[gene_id_column, *value_cols])
        if same.any():
            log.info("%s: %d rows repeat a gene id with identical values; kept the first of each",
                     path, int(same.sum()))
            raw = raw.loc[~same].reset_index(drop=True)
            ids = raw[gene_id_column].astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise InputError(path, gene_id_column, f"{len(dup)} duplicate gene ids (e.g. {', '.join(map(str, dup[:5]))})",
                         "make gene ids unique (aggregate or drop duplicated rows) before running gexflow")
    folded = ids.str.casefold()
    case_dup = ids[folded.duplicated(keep=False)]
    if len(case_dup):
        raise InputError(path, gene_id_column, f"{folded[case_dup.index].nunique()} gene ids differ only in case "
                         f"(e.g. {', '.join(case_dup.head(4))})", "keep one row per gene (symbols are case-sensitive "
                         "only by accident: A1BG and a1bg are one gene)")
    ann = raw[[gene_id_column, *annotation_columns]].copy()
    ann.index = pd.Index(ids, name="gene_id")
    values = raw.drop(columns=[gene_id_column, *annotation_columns])
    if values.shape[1] == 0:
        raise InputError(path, "(sample columns)", "no sample columns", "the matrix needs one column per sample")
    non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if non_numeric:
        col = values[non_numeric[0]]
        bad = col.notna() & pd.to_numeric(col, errors="coerce").isna()
        row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
        raise InputError(path, non_numeric[0], f"column is not numeric: '{col.iloc[row]}' at gene {ids.iloc[row]} "
                         f"(data row {row + 1})", "fix that value, or, if the column is a gene annotation, list it "
                         "under the dataset's `annotation_columns`")
    X = values.to_numpy(dtype=np.float64).T
    if missing == "drop_genes":
        ok = np.isfinite(X).all(axis=0)
        if not ok.all():
            log.warning("%s: dropped %d genes with missing values (`missing_values: drop_genes`)",
                        path, int((~ok).sum()))
            X, ann, ids = X[:, ok], ann.loc[ok], ids[ok]
    nan_rows, nan_cols = np.nonzero(~np.isfinite(X))
    if len(nan_rows) and missing != "keep":  # keep: the caller handles them after its sample filters
        raise InputError(path, values.columns[nan_rows[0]],
                         f"{len(nan_rows)} missing or non-finite values (first at gene {ids.iloc[nan_cols[0]]})",
                         "impute or drop those genes/samples, or set the dataset's `missing_values: drop_genes`")
    dup_s = values.columns[values.columns.duplicated()]
    if len(dup_s):
        raise InputError(path, dup_s[0], "duplicate sample column", "give every sample a unique column name")
    return pd.DataFrame(X, index=pd.Index(values.columns, name="sample_id"), columns=ann.index), ann


def handle_missing(X: pd.DataFrame, genes: pd.DataFrame, missing: str, path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Missing values of the kept samples: drop those genes (`drop_genes`, counted in the log) or refuse."""
    bad = ~np.isfinite(X.to_numpy()).all(axis=0)
    if bad.any() and missing == "drop_genes":
        log.warning("%s: dropped %d genes with missing values in the kept samples (`missing_values: drop_genes`)",
                    path, int(bad.sum()))
        return X.loc[:, ~bad], genes.loc[~bad]
    if bad.any():
        rows, cols = np.nonzero(~np.isfinite(X.to_numpy()))
        raise InputError(path, X.index[rows[0]], f"{len(rows)} missing or non-finite values (first at gene "
                         f"{X.columns[cols[0]]})", "impute or drop those genes/samples, or set the dataset's "
                         "`missing_values: drop_genes`")
    return X, genes
