"""Filter and normalise: bring every dataset to one scale, log2(x + 1) of a normalised value.

Bulk scales (config `scale`):
  counts       raw or expected counts: library-size filter, counts per million, log2(CPM + 1)
  linear       normalised values (e.g. RSEM normalized, TPM): log2(x + 1)
  log2_offset  log2(x + offset) with a pseudo-count other than 1 (MetaGSCA tables: 0.25):
               undone to x, then log2(x + 1)
  log2p1       already log2(x + 1) (UCSC Xena): kept
  log2         log2(x) without an offset (RMA / MAS5 array intensities): log2(2**v + 1)
  log2_centred per-gene centred log values (negatives allowed): kept as they are; the low-expression
               filter does not apply (no absolute level) and a variance filter (filter.min_variance)
               takes its place
  log_unknown  a log-like scale of undocumented unit (the GTEx/SEPIRA table): kept, and logged
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gexflow.errors import InputError

log = logging.getLogger("gexflow.filter")

BULK_SCALES = ("counts", "linear", "log2_offset", "log2p1", "log2", "log2_centred", "log_unknown")
# log2 intensities above this are implausible (2**30 is beyond any scanner or count)
MAX_PLAUSIBLE_LOG2 = 30.0


@dataclass
class FilterStep:
    step: str
    samples: int
    genes: int
    note: str = ""


def to_log2p1(X: np.ndarray, scale: str, *, log_offset: float | None = None, file="matrix") -> np.ndarray:
    """Convert a samples x genes matrix on `scale` to log2(x + 1). Counts must go through `cpm` first."""
    if scale not in BULK_SCALES:
        raise InputError(file, "scale", f"unknown scale '{scale}'", f"use one of {', '.join(BULK_SCALES)}")
    if scale in ("counts", "linear"):
        check_nonnegative(X, file, scale)
        return np.log2(X + 1.0)
    if scale == "log2_offset":
        # Values were rounded in the source, so 2**v - offset can be a hair below zero for true zeros.
        linear = np.clip(np.exp2(X) - log_offset, 0.0, None)
        return np.log2(linear + 1.0)
    if scale == "log2":
        if np.nanmax(X) > MAX_PLAUSIBLE_LOG2:
            log.warning("%s: `scale: log2` but the largest value is %.3g (> %g): are the values linear?",
                        file, float(np.nanmax(X)), MAX_PLAUSIBLE_LOG2)
        # log2(2**v + 1) = v + log2(1 + 2**-v), without overflowing 2**v for large v
        return np.logaddexp2(X, 0.0)
    if scale == "log2_centred" and not (X < 0).any():
        log.warning("%s: `scale: log2_centred` but no value is negative: per-gene centred values are; is the "
                    "scale log2p1 or log2?", file)
    return X.copy()


def variable_genes(L: np.ndarray, min_variance: float) -> np.ndarray:
    """Genes whose variance across samples (population) is above `min_variance`."""
    return L.var(axis=0) > min_variance


def check_nonnegative(X: np.ndarray, file, scale: str, genes=None, samples=None) -> None:
    if (X < 0).any():
        n = int((X < 0).sum())
        i, j = (int(v[0]) for v in np.nonzero(X < 0))
        where = f" (first {X[i, j]:g} at gene {genes[j]}, sample {samples[i]})" if genes is not None else ""
        raise InputError(file, "scale", f"{n} negative values, impossible on scale '{scale}'{where}",
                         "set the dataset's `scale` to the log scale the values are on (e.g. log2p1 or log2_offset)")


# A log2 expression above this would be over a billion on the linear scale: the values are not logged.
LOG2_MAX = 30.0


def check_scale_plausible(X: np.ndarray, scale: str, file, genes=None, samples=None) -> None:
    """Values that contradict the declared scale, refused with the likely right one (the
    dataset's `scale_check: false` skips this): a log scale with values above LOG2_MAX, or a
    linear / count matrix whose values all lie at or below it (already logged)."""
    finite = X[np.isfinite(X)]
    if finite.size == 0:
        return
    top = float(finite.max())
    if scale in ("log2p1", "log2_offset", "log2") and top > LOG2_MAX:
        i, j = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(X), X, -np.inf))), X.shape)
        integers = bool(np.all(finite == np.round(finite)))
        likely = "counts" if integers else "linear"
        where = f" at gene {genes[j]}, sample {samples[i]}" if genes is not None else ""
        raise InputError(file, "scale", f"values reach {top:g}{where}, far above what a log2 expression can be "
                         f"(<= {LOG2_MAX:g}) on the declared scale '{scale}': they look {likely}",
                         f"set the dataset's `scale: {likely}`, or `scale_check: false` if '{scale}' is right")
    if scale in ("linear", "counts") and top <= LOG2_MAX and finite.size >= 100:
        raise InputError(file, "scale", f"every value is at most {top:g}: on the declared scale '{scale}' that "
                         "is a matrix of near-zero expression; the values look already log-transformed",
                         "set the dataset's `scale` to the log scale they are on (log2p1, log2_offset with "
                         "log_offset, or log_unknown), or `scale_check: false` if they really are linear")


def library_size_filter(counts: np.ndarray, min_library_size: float) -> np.ndarray:
    """Boolean mask of samples whose total count reaches `min_library_size`."""
    return counts.sum(axis=1) >= min_library_size


def cpm(counts: np.ndarray) -> np.ndarray:
    lib = counts.sum(axis=1, keepdims=True)
    return counts / lib * 1e6


def expressed_genes(log2x: np.ndarray, min_expression: float, min_fraction: float) -> np.ndarray:
    """Genes at or above `min_expression` (log2(x+1)) in at least `min_fraction` of samples."""
    return (log2x >= min_expression).mean(axis=0) >= min_fraction


def normalise_bulk(X: np.ndarray, scale: str, params: dict, *, log_offset=None, file="matrix", scale_check=True,
                   gene_ids=None, sample_ids=None):
    """Scale conversion + filters for bulk data (the declared scale checked first, see
    check_scale_plausible; `gene_ids` / `sample_ids` name the cell a message points at).

    Returns (log2(x+1) of the kept samples, all genes; sample mask; gene mask; steps): the caller
    keeps `L[:, genes]` and can still plot the genes the filter dropped.
    """
    steps = [FilterStep("input", *X.shape)]
    samples = np.ones(X.shape[0], dtype=bool)
    if scale in ("counts", "linear"):
        check_nonnegative(X, file, scale, gene_ids, sample_ids)
    if scale_check:
        check_scale_plausible(X, scale, file, gene_ids, sample_ids)
    if scale == "counts":
        samples = library_size_filter(X, params["min_library_size"])
        steps.append(FilterStep("library_size", int(samples.sum()), X.shape[1],
                                f"total count >= {params['min_library_size']:g}"))
        if not samples.any():
            raise InputError(file, "filter.min_library_size", "no sample reaches the minimum library size",
                             "lower `filter.min_library_size` or check the `scale` is really `counts`")
        check_loss(X.shape[0], int(samples.sum()), params, file, "filter.min_library_size", "samples",
                   "the library-size filter", "lower `filter.min_library_size`, check the `scale` is really counts")
        L = np.log2(cpm(X[samples]) + 1.0)
    else:
        if scale == "log_unknown":
            log.warning("%s: scale is 'log_unknown': values are kept as they are (no transform); "
                        "the low-expression threshold is applied on that scale", file)
        L = to_log2p1(X, scale, log_offset=log_offset, file=file)
    if scale == "log2_centred":
        v = params.get("min_variance", 0.0)
        genes = variable_genes(L, v)
        note = (f"variance > {v:g} (centred values: the low-expression filter min_expression / min_fraction "
                "does not apply)")
        log.info("%s: %s; keeps %d of %d genes", file, note, int(genes.sum()), genes.size)
        steps.append(FilterStep("variance", int(samples.sum()), int(genes.sum()), note))
        if not genes.any():
            raise InputError(file, "filter.min_variance", f"no gene has variance > {v:g}",
                             "lower `filter.min_variance`, or check the dataset's `scale`")
        check_loss(X.shape[1], int(genes.sum()), params, file, "filter.min_variance", "genes",
                   "the variance filter", "lower `filter.min_variance`, or check the dataset's `scale`")
        return L, samples, genes, steps
    genes = expressed_genes(L, params["min_expression"], params["min_fraction"])
    steps.append(FilterStep("low_expression", int(samples.sum()), int(genes.sum()),
                            f">= {params['min_expression']:g} in >= {params['min_fraction']:.0%} of samples"))
    if not genes.any():
        raise InputError(file, "filter.min_expression",
                         f"no gene is expressed at >= {params['min_expression']:g} "
                         f"in >= {params['min_fraction']:.0%} of samples, "
                         "so the matrix is empty after filtering",
                         "lower `filter.min_expression` or `filter.min_fraction`, or check the dataset's `scale`")
    check_loss(X.shape[1], int(genes.sum()), params, file, "filter.min_expression", "genes",
               "the low-expression filter", "check the dataset's `scale` (centred or unknown log values need their "
               "own threshold), or lower `filter.min_expression` / `filter.min_fraction`")
    return L, samples, genes, steps


def check_loss(before: int, after: int, params: dict, file, field: str, what: str, step: str, fix: str) -> None:
    """Stop when one filter step removes more than `filter.max_loss` of the genes or samples: a
    wrong scale or threshold, not a result (a user who means it raises max_loss)."""
    limit = params.get("max_loss", 0.5)
    if before and (before - after) / before > limit:
        raise InputError(file, field, f"{step} would remove {before - after} of {before} {what} "
                         f"({(before - after) / before:.0%}, more than filter.max_loss {limit:g})",
                         f"{fix}; or set `filter.max_loss` (up to 1) to accept it")


# --- z-scoring (the WGAN-GP paper: Z = (X - mu_j) / sigma_j, population SD) ------------------

@dataclass
class ZScore:
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, X_train: np.ndarray, *, centre_only: bool = False, missing: bool = False,
            min_sd: float = 0.0) -> "ZScore":
        """Fit on the training split only: validation/test statistics must not leak into the model.
        `missing`: statistics of the observed (non-NaN) entries of each gene; `centre_only`: SD 1
        (values centred per gene, scale kept); an SD at or below `min_sd` becomes 1."""
        mean = np.nanmean(X_train, axis=0) if missing else X_train.mean(axis=0)
        if centre_only:
            sd = np.ones(X_train.shape[1])
        else:
            sd = np.nanstd(X_train, axis=0) if missing else X_train.std(axis=0, ddof=0)
        # A gene constant in training carries no signal; dividing by 1 keeps it at 0 instead of NaN.
        return cls(mean, np.where(sd > min_sd, sd, 1.0))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "sd": self.sd.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ZScore":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["sd"], dtype=np.float64))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.sd

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        return Z * self.sd + self.mean


# --- single-cell (scanpy) ---------------------------------------------------------------------

def looks_like_counts(X) -> tuple[bool, str]:
    """Raw counts are non-negative integers; anything else is already normalised."""
    import scipy.sparse as sp

    data = X.data if sp.issparse(X) else np.asarray(X)
    if data.size == 0:
        return False, "matrix is empty"
    if (data < 0).any():
        return False, f"has negative values (min {data.min():.3g}): scaled, not counts"
    if not np.allclose(data, np.round(data)):
        return False, "has non-integer values: already normalised, not counts"
    return True, "non-negative integers: raw counts"


def qc_single_cell(adata, params: dict, file="matrix"):
    """scanpy QC on raw counts; already-normalised input skips the count filters, with the reason logged.

    Counts: keep genes with >= `min_gene_counts` reads in >= `min_cells` cells, cells with library
    size >= `min_library_size`, then `normalize_total` and `log1p`. Scaled input with a `.raw` holding
    log-normalised values uses `.raw` (scaling is a model-side choice, fitted on training data).
    """
    import scanpy as sc

    steps = [FilterStep("input", adata.n_obs, adata.n_vars)]
    is_counts, why = looks_like_counts(adata.X)
    if is_counts:
        adata = adata.copy()
        X = adata.X
        per_gene = np.asarray((X >= params["min_gene_counts"]).sum(axis=0)).ravel()
        adata = adata[:, per_gene >= params["min_cells"]].copy()
        steps.append(FilterStep("genes", adata.n_obs, adata.n_vars,
                                f">= {params['min_gene_counts']} reads in >= {params['min_cells']} cells"))
        sc.pp.filter_cells(adata, min_counts=params["min_library_size"])
        steps.append(FilterStep("library_size", adata.n_obs, adata.n_vars, f">= {params['min_library_size']} counts"))
        if adata.n_obs == 0 or adata.n_vars == 0:
            raise InputError(file, "filter.single_cell", "no cells or genes left after QC",
                             "lower `filter.single_cell.min_library_size`, `min_cells` or `min_gene_counts`")
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=params.get("target_sum"))
        sc.pp.log1p(adata)
        steps.append(FilterStep("normalize_total+log1p", adata.n_obs, adata.n_vars))
        return adata, steps, f"raw counts ({why}); count filters applied"
    reason = f"input {why}; count filters skipped"
    if adata.raw is not None and (np.asarray(adata.X.min()) < 0):
        adata = adata.raw.to_adata()
        reason += "; using .raw (log-normalised values) instead of the scaled .X"
    log.warning("%s: %s", file, reason)
    steps.append(FilterStep("skipped_count_filters", adata.n_obs, adata.n_vars, reason))
    return adata, steps, reason


def qc_single_cell_linear(adata, params: dict, file="matrix"):
    """Single-cell values on a linear, already depth-normalised scale (FPKM/TPM, `scale: linear`).

    They are not counts, so the read-count gene filter, the library-size filter and
    normalize_total do not apply (and are skipped, said in the log and in the steps table);
    genes detected (value > 0) in >= `min_cells` cells are kept, then log2(x + 1)."""
    steps = [FilterStep("input", adata.n_obs, adata.n_vars)]
    X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float64)
    check_nonnegative(X, file, "linear")
    reason = ("linear values (FPKM/TPM), not counts: the read-count gene filter (min_gene_counts), the "
              "library-size filter and normalize_total are skipped; applied: genes > 0 in >= min_cells cells, "
              "log2(x+1)")
    log.info("%s: %s", file, reason)
    keep = (X > 0).sum(axis=0) >= params["min_cells"]
    if not keep.any():
        raise InputError(file, "filter.single_cell.min_cells", "no gene is detected in enough cells",
                         "lower `filter.single_cell.min_cells`")
    adata = adata[:, keep].copy()
    adata.X = np.log2(X[:, keep] + 1.0).astype(np.float32)
    steps.append(FilterStep("skipped_count_filters", adata.n_obs, int(keep.size), reason))
    steps.append(FilterStep("genes_detected", adata.n_obs, adata.n_vars, f"> 0 in >= {params['min_cells']} cells"))
    steps.append(FilterStep("log2(x+1)", adata.n_obs, adata.n_vars))
    return adata, steps, reason


def steps_table(steps: list[FilterStep]) -> pd.DataFrame:
    return pd.DataFrame([s.__dict__ for s in steps])


def missing_value_genes(expression_file, samples, known_genes: set, scale: str, log_offset=None) -> pd.DataFrame:
    """The genes of a staged genes x samples matrix that have missing values in `samples` and are
    not among `known_genes` (the filter dropped them for those values: `missing_values: drop_genes`),
    as samples x genes on log2(x+1), NaN where missing."""
    from gexflow.io import read_table, verify_sidecar

    verify_sidecar(expression_file)
    raw = read_table(expression_file, "expression matrix", "rebuild it: `snakemake --forcerun` its download rule",
                     index_col=0, low_memory=False)
    raw.index = raw.index.astype(str)
    raw = raw.apply(pd.to_numeric, errors="coerce")  # the filter checked every cell; NaN = a missing value
    absent = [s for s in samples if s not in raw.columns]
    if absent:
        raise InputError(expression_file, "columns", f"{len(absent)} filtered samples are not in the staged matrix "
                         f"(e.g. {absent[0]})", "rerun the download and filter stages")
    gaps = raw.loc[raw[list(samples)].isna().any(axis=1), list(samples)]
    gaps = gaps.loc[~gaps.index.isin(known_genes)]
    G = to_log2p1(gaps.to_numpy(dtype=np.float64).T, scale, log_offset=log_offset, file=expression_file)
    return pd.DataFrame(G, index=pd.Index(samples, name="sample_id"), columns=gaps.index)


def filter_single_cell(matrix_file, ds: dict, params: dict):
    """A staged single-cell AnnData through QC: linear values (FPKM/TPM) or counts / normalised
    input; covariates present; a `symbol` per gene. Returns (adata, steps)."""
    import anndata as ad

    from gexflow.io import verify_sidecar

    verify_sidecar(matrix_file)  # the staged copy
    try:
        adata = ad.read_h5ad(matrix_file)
    except Exception as e:  # h5py/anndata raise many types for a bad file
        raise InputError(matrix_file, "(whole file)", f"cannot be read as AnnData ({type(e).__name__}: {e})",
                         "point the dataset's `matrix` at an .h5ad file") from None
    if ds["scale"] == "linear":  # FPKM/TPM: depth-normalised already, not counts
        adata, steps, reason = qc_single_cell_linear(adata, params, file=matrix_file)
    else:
        adata, steps, reason = qc_single_cell(adata, params, file=matrix_file)
    for col in ds.get("categorical_covariates", []):
        if col not in adata.obs.columns:
            raise InputError(matrix_file, f"obs.{col}", "covariate column not found in the AnnData obs",
                             f"use one of: {', '.join(adata.obs.columns[:10])}")
    if "symbol" not in adata.var.columns:
        adata.var["symbol"] = adata.var_names.astype(str)
    adata.var.index.name = "gene_id"
    adata.uns["gexflow_qc_reason"] = reason
    return adata, steps


# Scales whose values are >= 0 by definition, so log2(x + 1) of them is too.
NON_NEGATIVE_SCALES = ("counts", "linear", "log2p1", "log2_offset", "log2")


def check_stored_values(adata, ds: dict, file) -> None:
    """The matrix as it will be stored (float32): every value finite, and none negative where the
    input scale makes that impossible (values outside the scale would pass silently otherwise)."""
    X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float32)
    bad = ~np.isfinite(X)
    what = "is not finite"
    if not bad.any() and ds["kind"] == "bulk" and ds["scale"] in NON_NEGATIVE_SCALES:
        bad = X < 0
        what = "is negative"
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(file, str(adata.obs_names[r]), f"{int(bad.sum())} values are out of range after bringing "
                         f"`scale: {ds['scale']}` to log2(x+1) as float32: the value of gene {adata.var_names[c]} "
                         f"{what} ({X[r, c]})", "correct those values in the matrix, or set the dataset's `scale` "
                         "to the one the values are on (log values that may be negative: `log_unknown`)")
