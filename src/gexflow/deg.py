"""Differential expression: Wilcoxon signed-rank (paired) or rank-sum (unpaired) over all genes at
once, multiple testing through statsmodels, fold change on the linear scale.

Exactness: scipy's per-gene `method="auto"` picks a method per gene (exact null distribution when
n is small and that gene has no ties or zeros, a permutation test for n <= 13 with ties or
zeros, the tie-corrected normal approximation otherwise). scipy's `axis=1` call instead decides
once for the whole array, so a single tied gene sends every gene to the normal approximation.
Here every row is ranked at once (one integer sort per row, `label_sort`, then average ranks and
tie terms for the tied rows only, `rank_sums`), each gene is classified the way a per-gene call
would classify it, and each class gets that method's formula, evaluated for all its genes in one
step with scipy's own expressions (the exact signed-rank null distribution is tabulated once per
n; small-sample exact rank-sum and the permutation branch call scipy). The p-values are the
per-gene ones, in less time than one `axis=1` call.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats as st
from scipy.special import ndtr

from gexflow.errors import InputError

log = logging.getLogger("gexflow.deg")

# scipy's thresholds for `method="auto"` (scipy.stats._wilcoxon / _mannwhitneyu, scipy 1.17).
WILCOXON_EXACT_MAX_N = 50
WILCOXON_PERMUTATION_MAX_N = 13
MWU_EXACT_MAX_MIN_N = 8


@dataclass
class TestResult:
    statistic: np.ndarray
    pvalue: np.ndarray
    method: np.ndarray  # per gene: "exact", "asymptotic", "permutation" or "constant"


def label_sort(values: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of non-negative float64 `values` together with a 0/1 label per value (bool or
    unsigned), with one integer sort and no argsort. Returns the sorted values, as integers that
    order and compare like the values, and the label at each sorted position (int64); where values
    tie, label 0 comes first. `values` is overwritten.

    A double >= +0 orders like its IEEE 754 bit pattern read as an unsigned integer, and its top
    (sign) bit is 0, so (bits << 1) | label is an exact sort key that carries the label along
    (-0.0 shifts to the key of +0.0). Sorting 8-byte integers per row is several times faster
    than argsort followed by a gather, which was the bulk of the cost of ranking.
    """
    keys = values.view(np.uint64)
    keys <<= 1
    keys |= labels
    keys.sort(axis=1)
    labels = (keys & 1).view(np.int64)
    keys |= 1  # now equal iff the values are
    return keys, labels


def rank_sums(s: np.ndarray, labels: np.ndarray, skip=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted ascending (`s`) with a 0/1 int64 label at each position, where tied values
    labelled 0 come before tied values labelled 1: the sum of the average ranks (1-based; tied
    values share their mean rank, scipy.stats.rankdata's "average") of the label-1 values, the
    tie term sum(t**3 - t) over tie groups, and whether each row has ties. NaN != NaN: each NaN
    is a group of its own. `skip[i]` leading values of row i, equal to each other, unequal to
    the rest and labelled 0 (the zero differences the signed-rank test drops), are left out:
    ranks start after them and they are no tie group.
    """
    rows, n = s.shape
    skip = np.zeros(rows, dtype=np.int64) if skip is None else np.asarray(skip, dtype=np.int64)
    equal = s[:, 1:] == s[:, :-1]
    tied = equal.sum(axis=1) > np.maximum(skip - 1, 0)  # equal neighbours beyond the skipped run
    # Sum of the positions (from 1, after the skipped values) of label 1: the rank sum without ties.
    position_sum = np.einsum("ij,j->i", labels, np.arange(1, n + 1)) - skip * labels.sum(axis=1)
    rank_sum = position_sum.astype(np.float64)
    tie_term = np.zeros(rows)
    if tied.any():
        # In a tie group of t values, n1 labelled 1, those take its top n1 positions, which exceed the
        # group's mean position by n0 / 2 each (n0 = t - n1): the average ranks sum to n1 * n0 / 2
        # less. Only groups of 2 or more (runs of equal neighbours) need visiting.
        t_rows = np.flatnonzero(tied)
        run = np.zeros((len(t_rows), n + 1), dtype=bool)
        run[:, 1:n] = equal[t_rows]  # run[:, p]: value p equals value p - 1
        first = np.flatnonzero(run[:, 1:] & ~run[:, :-1])  # flat index of each group's first value
        last = np.flatnonzero(run[:, :-1] & ~run[:, 1:])  # and of its last, in the same order
        size = last - first + 1
        before = np.concatenate([[0], np.cumsum(labels[t_rows], axis=None, dtype=np.int64)])
        n1 = before[last + 1] - before[first]
        row = first // n
        rank_sum[t_rows] -= np.bincount(row, weights=n1 * (size - n1), minlength=len(t_rows)) / 2
        t = size.astype(np.float64)
        k = skip[t_rows].astype(np.float64)  # the skipped run is no tie group
        tie_term[t_rows] = np.bincount(row, weights=t ** 3 - t, minlength=len(t_rows)) - (k ** 3 - k)
    return rank_sum, tie_term, tied


@functools.lru_cache(maxsize=64)
def wilcoxon_exact_pvalues(n: int) -> np.ndarray:
    """Two-sided exact p-value for every possible signed-rank statistic r+ = 0..n(n+1)/2.

    The null distribution depends only on n, so it is computed once per n. Same recursion and
    the same tail sums as scipy's exact path (scipy.stats._wilcoxon.WilcoxonDistribution), so
    the values are scipy's; scipy evaluates them element by element, which is the slow part
    of its exact test.
    """
    pmf = np.ones(1)
    for k in range(1, n + 1):  # P(r+ = r) for n = k, from n = k - 1: rank k is positive or not
        prev = pmf
        pmf = np.zeros(k * (k + 1) // 2 + 1)
        pmf[: len(prev)] = prev * 0.5
        pmf[-len(prev):] += prev * 0.5
    mean = n * (n + 1) / 4
    ks = np.arange(len(pmf))
    cdf = np.array([pmf[: k + 1].sum() if k <= mean else 1 - pmf[k + 1:].sum() for k in ks])
    sf = np.array([pmf[k:].sum() if k <= mean else 1 - pmf[:k].sum() for k in ks])
    return np.clip(2 * np.minimum(sf, cdf), 0, 1)


WILCOXON_METHODS = np.array(["asymptotic", "exact", "permutation", "constant"], dtype=object)


def wilcoxon_signed_rank(tumour: np.ndarray, normal: np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test per row (genes x pairs), per-gene `method="auto"` p-values.

    Zeros are dropped (scipy's default `zero_method="wilcox"`). A gene whose differences are all
    zero (e.g. constant in both groups) gets p = 1 and statistic 0, where scipy returns NaN.
    """
    d = np.asarray(tumour, dtype=np.float64) - np.asarray(normal, dtype=np.float64)
    genes, n = d.shape
    zeros = d == 0
    positive = d > 0
    n_zero = zeros.sum(axis=1)
    constant = n_zero == n
    if np.isnan(d).any():  # no integer key for NaN: sort by (value, sign), the zeros as NaN (last, untied)
        a = np.where(zeros, np.nan, np.abs(d))
        order = np.lexsort((positive, a), axis=1)
        r_plus, tie_term, has_ties = rank_sums(np.take_along_axis(a, order, axis=1),
                                               np.take_along_axis(positive, order, axis=1).astype(np.int64))
    else:  # |d| labelled by sign; the zeros sort first and are skipped
        r_plus, tie_term, has_ties = rank_sums(*label_sort(np.abs(d), positive), skip=n_zero)
    code = np.zeros(genes, dtype=np.int8)  # index into WILCOXON_METHODS; 0: asymptotic
    if n <= WILCOXON_EXACT_MAX_N:
        clean = (n_zero == 0) & ~has_ties
        code[clean] = 1
        if n <= WILCOXON_PERMUTATION_MAX_N:
            code[~clean] = 2
    code[constant] = 3

    # Same quantities and operation order as scipy.stats._wilcoxon._wilcoxon_statistic.
    count = (n - n_zero).astype(np.float64)
    r_total = count * (count + 1) / 2
    stat = np.minimum(r_plus, r_total - r_plus)
    p = np.ones(genes)
    rows = code == 1
    if rows.any():  # no ties, no zeros: r+ is an integer and count == n
        p[rows] = wilcoxon_exact_pvalues(n)[r_plus[rows].astype(np.int64)]
    rows = code == 0
    if rows.any():
        c = count[rows]
        mn = c * (c + 1.0) * 0.25
        se = np.sqrt((c * (c + 1.0) * (2.0 * c + 1.0) - tie_term[rows] / 2) / 24)
        z = (r_plus[rows] - mn) / se
        p[rows] = 2 * ndtr(-np.abs(z))
    stat[constant] = 0.0
    for i in np.flatnonzero(code == 2):
        # scipy enumerates all 2**n sign flips here (n <= 13): few genes, small n.
        r = st.wilcoxon(d[i])
        stat[i], p[i] = r.statistic, r.pvalue
    return TestResult(stat, p, WILCOXON_METHODS[code])


MWU_METHODS = np.array(["asymptotic", "exact"], dtype=object)


def mann_whitney_u(tumour: np.ndarray, normal: np.ndarray) -> TestResult:
    """Two-sided Mann-Whitney U (Wilcoxon rank-sum) per row, per-gene `method="auto"` p-values.

    The statistic is U of the tumour group (scipy's `statistic`).
    """
    x = np.asarray(tumour, dtype=np.float64)
    y = np.asarray(normal, dtype=np.float64)
    n1, n2 = x.shape[1], y.shape[1]
    genes = x.shape[0]
    pooled = np.concatenate([x, y], axis=1)
    tumour_label = np.arange(n1 + n2) < n1
    if (x >= 0).all() and (y >= 0).all():  # expression values (NaN fails this too)
        R1, tie_term, has_ties = rank_sums(*label_sort(pooled, tumour_label))
    else:  # negative values have no integer key here: sort by (value, label)
        labels = np.broadcast_to(tumour_label, pooled.shape)
        order = np.lexsort((labels, pooled), axis=1)
        R1, tie_term, has_ties = rank_sums(np.take_along_axis(pooled, order, axis=1),
                                           tumour_label[order].astype(np.int64))
    exact = np.zeros(genes, dtype=bool)
    if not (n1 > MWU_EXACT_MAX_MIN_N and n2 > MWU_EXACT_MAX_MIN_N):
        exact = ~has_ties
    # Same quantities and operation order as scipy.stats.mannwhitneyu (method 2 of its reference).
    U1 = R1 - n1 * (n1 + 1) / 2
    U = np.maximum(U1, n1 * n2 - U1)
    n = n1 + n2
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (U - n1 * n2 / 2 - 0.5) / s
    p = np.clip(2 * ndtr(-z), 0.0, 1.0)
    if exact.any():  # small groups without ties: scipy's exact null distribution
        p[exact] = st.mannwhitneyu(x[exact], y[exact], axis=1, method="exact").pvalue
    return TestResult(U1, p, MWU_METHODS[exact.astype(np.int8)])


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Multiple-testing correction through statsmodels: 'bonferroni' or 'fdr_bh'."""
    from statsmodels.stats.multitest import multipletests

    return multipletests(p, method=method)[1]


def log2_fold_change(mean_tumour: np.ndarray, mean_normal: np.ndarray, pseudo_count="auto") -> np.ndarray:
    """log2((group a mean + c) / (group b mean + c)) on the linear scale; + means higher in a.

    `pseudo_count` c: a number, applied to every gene; or "auto": no pseudo-count where both means
    are positive, and 1 (the offset of the data's log2(x + 1) scale) for genes where a group mean is
    0, so the fold change is never +/-inf. Both means zero gives 0 (no change).
    """
    mean_tumour, mean_normal = np.asarray(mean_tumour, dtype=np.float64), np.asarray(mean_normal, dtype=np.float64)
    if pseudo_count == "auto":
        c = np.where((mean_tumour > 0) & (mean_normal > 0), 0.0, 1.0)
    else:
        c = float(pseudo_count)
    with np.errstate(divide="ignore", invalid="ignore"):
        fc = np.log2((mean_tumour + c) / (mean_normal + c))
    fc[(mean_tumour == 0) & (mean_normal == 0)] = 0.0
    return fc


def welch_t(tumour: np.ndarray, normal: np.ndarray, paired: bool = False) -> TestResult:
    """Welch's unequal-variance t-test per gene (rows) for log-scale data, or the paired t-test
    when `paired` (column i of both is pair i): scipy's ttest_ind / ttest_rel on all genes at
    once. A gene without variance gets p = 1."""
    from scipy.stats import ttest_ind, ttest_rel

    with np.errstate(divide="ignore", invalid="ignore"):
        res = ttest_rel(tumour, normal, axis=1) if paired else ttest_ind(tumour, normal, axis=1, equal_var=False)
    p = np.where(np.isfinite(res.pvalue), res.pvalue, 1.0)
    stat = np.where(np.isfinite(res.statistic), res.statistic, 0.0)
    method = np.where(np.isfinite(res.pvalue), "paired_t" if paired else "welch", "constant")
    return TestResult(stat, p, method)


def smallest_p(design_kind: str, n_a: int, n_b: int, method: str = "wilcoxon") -> float | None:
    """The smallest two-sided p-value the rank test gives this design on untied data, as this module
    computes it (scipy's per-gene `method="auto"`): 2 / 2^n for the exact signed-rank test on n pairs
    (n <= 50; the permutation branch cannot go lower), 2 / C(n_a + n_b, n_a) for the exact rank-sum
    test (either group <= 8 samples), else the normal approximation at the most extreme statistic
    (all differences of one sign / complete separation). None for the t-tests and DESeq2, which
    have no such floor."""
    from math import comb

    if method != "wilcoxon":
        return None
    if design_kind == "paired":
        if n_a <= WILCOXON_EXACT_MAX_N:
            return min(1.0, 2.0 / 2 ** n_a)
        return _signed_rank_normal_floor(n_a, tie_term=0.0)
    if min(n_a, n_b) <= MWU_EXACT_MAX_MIN_N:
        return min(1.0, 2.0 / comb(n_a + n_b, n_a))
    return _rank_sum_normal_floor(n_a, n_b, tie_term=0.0)


def smallest_p_with_ties(design_kind: str, n_a: int, n_b: int, method: str = "wilcoxon") -> float | None:
    """The smallest p-value any gene can get in this design, ties included: tied genes get the
    tie-corrected normal approximation, whose variance shrinks with the ties, so at the extreme
    statistic (every value of each group tied, complete separation; or all n differences equal)
    it can fall below the untied floor (5 v 5: 0.0040 vs 2/252 = 0.0079). The smaller of the two."""
    untied = smallest_p(design_kind, n_a, n_b, method)
    if untied is None:
        return None
    if design_kind == "paired":
        if n_a <= WILCOXON_PERMUTATION_MAX_N:  # tied genes take the permutation test: floor 2 / 2^n
            return untied
        return min(untied, _signed_rank_normal_floor(n_a, tie_term=float(n_a ** 3 - n_a)))
    return min(untied, _rank_sum_normal_floor(n_a, n_b, tie_term=float(n_a ** 3 - n_a + n_b ** 3 - n_b)))


def _signed_rank_normal_floor(n: int, tie_term: float) -> float:
    """wilcoxon_signed_rank's normal approximation at r+ = n(n+1)/2 (all differences positive)."""
    mn = n * (n + 1.0) * 0.25
    se = np.sqrt((n * (n + 1.0) * (2.0 * n + 1.0) - tie_term / 2) / 24)
    return float(2 * ndtr(-(2 * mn - mn) / se))


def _rank_sum_normal_floor(n1: int, n2: int, tie_term: float) -> float:
    """mann_whitney_u's normal approximation at U = n1 * n2 (complete separation)."""
    n = n1 + n2
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    return float(min(1.0, 2 * ndtr(-(n1 * n2 - n1 * n2 / 2 - 0.5) / s)))


# Why a sample of the dataset is not in the test: code -> wording. Each unused sample counts once,
# under the first reason that applies in this order.
UNUSED_REASONS = {
    "missing_label": "no label in the contrast column",
    "not_in_contrast": "label not in the contrast",
    "no_patient_id": "no patient id, so no pair",
    "no_matched_pair": "no matched sample of the other group",
    "extra_sample_of_patient": "another sample of the same patient and group is used",
}


@dataclass
class Design:
    kind: str  # "paired" or "unpaired"
    tumour: np.ndarray  # row indices into the sample axis: group a (the first contrast group)
    normal: np.ndarray  # group b
    n_pairs: int
    note: str
    group_a: str = "tumour"  # the contrast's labels
    group_b: str = "normal"
    unused: pd.DataFrame | None = None  # one row per (label, reason): label, side, reason, n
    n_samples: int | None = None  # samples in the dataset


def _unused_table(rows) -> pd.DataFrame:
    t = pd.DataFrame(rows, columns=["label", "side", "reason", "n"])
    return t[t["n"] > 0].reset_index(drop=True)


def choose_design(obs: pd.DataFrame, *, condition_column: str, patient_column: str | None, tumour_label: str,
                  normal_label: str, design: str, min_pairs: int, min_samples_per_group: int, file="matrix") -> Design:
    """Paired when each patient contributes one tumour and one normal sample (and enough such
    patients exist, for `design: auto`), else unpaired on all tumour vs all normal samples.
    `tumour_label` / `normal_label` are the contrast's two groups (a, b), whatever they are. Every
    sample left out is counted by reason in `Design.unused` (UNUSED_REASONS)."""
    if condition_column not in obs.columns:
        raise InputError(file, f"obs.{condition_column}", "condition column not found",
                         "set the dataset's `condition_column` to the column holding tumour/normal labels")
    raw = obs[condition_column]
    missing = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
    cond = raw.astype(str).to_numpy()
    t_idx = np.flatnonzero((cond == tumour_label) & ~missing)
    n_idx = np.flatnonzero((cond == normal_label) & ~missing)
    for label, idx in ((tumour_label, t_idx), (normal_label, n_idx)):
        if len(idx) < min_samples_per_group:
            found = ", ".join(f"{k} ({v})" for k, v in pd.Series(cond).value_counts().items())
            raise InputError(file, f"obs.{condition_column}",
                             f"{len(idx)} samples labelled '{label}' (labels found: {found}); "
                             f"DEG calling needs at least {min_samples_per_group} per group",
                             "set `deg.tumour_label` / `deg.normal_label` to the labels in the data, "
                             "or lower `deg.min_samples_per_group`")
    other = ~missing & (cond != tumour_label) & (cond != normal_label)
    unused = [(None, "other", "missing_label", int(missing.sum()))]
    unused += [(str(k), "other", "not_in_contrast", int(v)) for k, v in pd.Series(cond[other]).value_counts().items()]
    pairs_t, pairs_n = [], []
    pair_unused = []
    if patient_column and patient_column in obs.columns:
        pid = obs[patient_column]
        no_id = (pid.isna() | (pid.astype(str).str.strip() == "")).to_numpy()
        patients = pid.astype(str).to_numpy()
        t_ok, n_ok = t_idx[~no_id[t_idx]], n_idx[~no_id[n_idx]]
        t_by_patient = pd.Series(t_ok, index=patients[t_ok]).groupby(level=0).first()
        n_by_patient = pd.Series(n_ok, index=patients[n_ok]).groupby(level=0).first()
        common = t_by_patient.index.intersection(n_by_patient.index).sort_values()
        pairs_t, pairs_n = t_by_patient[common].to_numpy(), n_by_patient[common].to_numpy()
        for label, side, idx, ok in ((tumour_label, "group_a", t_idx, t_ok), (normal_label, "group_b", n_idx, n_ok)):
            in_pair = np.isin(patients[ok], common)
            pair_unused += [(label, side, "no_patient_id", len(idx) - len(ok)),
                            (label, side, "no_matched_pair", int((~in_pair).sum())),
                            (label, side, "extra_sample_of_patient", int(in_pair.sum()) - len(common))]
    n_pairs = len(pairs_t)
    if design == "paired" and n_pairs < min_pairs:
        raise InputError(file, f"obs.{patient_column}",
                         f"only {n_pairs} patients have both a tumour and a normal sample "
                         f"(`deg.design: paired` needs >= {min_pairs})",
                         "set `deg.design: unpaired` or `auto`, or check the dataset's `patient_column`")
    n_all = len(obs)
    if design == "paired" or (design == "auto" and n_pairs >= min_pairs):
        return Design("paired", np.asarray(pairs_t, dtype=np.int64), np.asarray(pairs_n, dtype=np.int64), n_pairs,
                      f"paired Wilcoxon signed-rank on {n_pairs} {tumour_label}/{normal_label} pairs",
                      tumour_label, normal_label, _unused_table(unused + pair_unused), n_all)
    why = "" if design == "unpaired" else f" (only {n_pairs} matched pairs, fewer than deg.min_pairs = {min_pairs})"
    return Design("unpaired", t_idx, n_idx, n_pairs,
                  f"unpaired Wilcoxon rank-sum on {len(t_idx)} {tumour_label} vs {len(n_idx)} {normal_label} "
                  f"samples{why}", tumour_label, normal_label, _unused_table(unused), n_all)


def usage_summary(design: Design) -> tuple[list[tuple[str, object]], str]:
    """Summary rows and one sentence on the samples used and unused: `samples_total`,
    `samples_used`, `samples_unused`, then `unused_<side>_<reason>` per (group, reason) that
    occurs (side: group_a, group_b, other), and `unused_detail`, the same in words."""
    unused = design.unused if design.unused is not None else _unused_table([])
    used = len(design.tumour) + len(design.normal)
    n_unused = int(unused["n"].sum())
    total = design.n_samples if design.n_samples is not None else used + n_unused
    rows = [("samples_total", total), ("samples_used", used), ("samples_unused", n_unused)]
    for (side, reason), n in unused.groupby(["side", "reason"], sort=False)["n"].sum().items():
        rows.append((f"unused_{side}_{reason}", int(n)))
    parts = []
    for r in unused.itertuples():
        what = "samples" if r.label is None else f"'{r.label}' samples"
        if r.reason == "no_matched_pair":
            other = design.group_b if r.side == "group_a" else design.group_a
            parts.append(f"{r.n} {what} without a matched '{other}' sample")
        else:
            parts.append(f"{r.n} {what}: {UNUSED_REASONS[r.reason]}")
    text = (f"{used} of {total} samples used ({len(design.tumour)} '{design.group_a}', {len(design.normal)} "
            f"'{design.group_b}')")
    text += "; unused: " + "; ".join(parts) if parts else "; none unused"
    rows.append(("unused_detail", text))
    return rows, text


def call_degs(log2x: np.ndarray, var: pd.DataFrame, design: Design, *, alpha: float, correction: str,
              log2fc_threshold: float, method: str = "wilcoxon", pseudo_count="auto",
              centred: bool = False) -> pd.DataFrame:
    """DEG table for a samples x genes log2(x+1) matrix. Final DEGs = test DEGs and fold-change DEGs.
    `method`: "wilcoxon" (signed-rank when paired, rank-sum otherwise; the WGAN-GP paper) or
    "welch" (Welch's t-test on the log values; the paired t-test for a paired design).
    `centred`: per-gene centred log2 values (`scale: log2_centred`), which have no linear scale to
    go back to: the log2 fold change is the difference of the groups' mean log values."""
    X = np.asarray(log2x, dtype=np.float64)
    T, N = X[design.tumour].T, X[design.normal].T  # genes x samples
    if method == "welch":
        res = welch_t(T, N, paired=design.kind == "paired")
    else:
        res = wilcoxon_signed_rank(T, N) if design.kind == "paired" else mann_whitney_u(T, N)
    if centred:
        mean_t, mean_n = X[design.tumour].mean(axis=0), X[design.normal].mean(axis=0)
        fc = mean_t - mean_n
    else:
        lin = np.exp2(X) - 1.0  # undo log2(x + 1)
        mean_t, mean_n = lin[design.tumour].mean(axis=0), lin[design.normal].mean(axis=0)
        fc = log2_fold_change(mean_t, mean_n, pseudo_count)
    return deg_table(var, res.statistic, res.pvalue, res.method.astype(str), fc, mean_t, mean_n, design,
                     alpha=alpha, correction=correction, log2fc_threshold=log2fc_threshold)


def deg_table(var: pd.DataFrame, statistic, pvalue, test_method, fc, mean_t, mean_n, design: Design, *,
              alpha: float, correction: str, log2fc_threshold: float) -> pd.DataFrame:
    """The DEG table every method writes: p-values adjusted by statsmodels, the fold change, and
    the two criteria."""
    p_bonf = adjust_pvalues(pvalue, "bonferroni")
    p_bh = adjust_pvalues(pvalue, "fdr_bh")
    p_used = p_bonf if correction == "bonferroni" else p_bh
    table = pd.DataFrame({
        "gene_id": var.index.astype(str),
        "symbol": var["symbol"].astype(str).to_numpy() if "symbol" in var else var.index.astype(str),
        "statistic": statistic,
        "pvalue": pvalue,
        "p_bonferroni": p_bonf,
        "p_bh": p_bh,
        "test_method": test_method,
        "log2fc": fc,
        "mean_group_a": mean_t,  # the groups' names: Design.group_a / group_b, summary.tsv group_a / group_b
        "mean_group_b": mean_n,
        "n_group_a": len(design.tumour),
        "n_group_b": len(design.normal),
    })
    table["deg_test"] = p_used <= alpha
    table["deg_fold_change"] = np.abs(fc) >= log2fc_threshold
    table["deg"] = table["deg_test"] & table["deg_fold_change"]
    return table


def deseq2(counts: np.ndarray, var: pd.DataFrame, obs: pd.DataFrame, design: Design, *, column: str,
           groups: tuple[str, str], alpha: float, correction: str, log2fc_threshold: float) -> pd.DataFrame:
    """DESeq2 (pydeseq2) on raw counts of the design's two groups: Wald test of group a vs group b
    (`~group`, or `~pair + group` for a paired design), its log2 fold change (MLE, no shrinkage),
    p-values adjusted like every method here. Non-integer counts (RSEM expected counts) are
    rounded, as DESeq2 requires. `column` and `groups` only label the result."""
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    rows = np.r_[design.tumour, design.normal]
    counts_df = pd.DataFrame(np.round(np.asarray(counts, dtype=np.float64)[rows]).astype(np.int64),
                             index=obs.index[rows].astype(str), columns=var.index.astype(str))
    meta = pd.DataFrame({"group": np.r_[["a"] * len(design.tumour), ["b"] * len(design.normal)]},
                        index=counts_df.index)
    formula = "~group"
    if design.kind == "paired":  # row i of each group is pair i
        meta["pair"] = [f"p{i}" for i in range(len(design.tumour))] * 2
        formula = "~pair + group"
    inference = DefaultInference(n_cpus=1)
    dds = DeseqDataSet(counts=counts_df, metadata=meta, design=formula, inference=inference, quiet=True)
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["group", "a", "b"], inference=inference, quiet=True)
    stats.summary()
    res = stats.results_df.reindex(counts_df.columns)
    p = res["pvalue"].to_numpy(dtype=np.float64)
    fc = res["log2FoldChange"].to_numpy(dtype=np.float64)
    # DESeq2 gives NA p for genes with all counts zero and for count outliers (Cook's distance, when
    # not refitted); p = 1 here, and the reason in test_method. Independent filtering only sets padj
    # to NA, and padj is not used: every method's p is adjusted below the same way.
    na = ~np.isfinite(p)
    reason = np.full(len(p), "deseq2_wald", dtype=object)
    if na.any():
        all_zero = ~np.asarray(dds.var["non_zero"], dtype=bool)
        cooks = np.asarray(dds.cooks_outlier(), dtype=bool) if stats.cooks_filter else np.zeros(len(p), bool)
        reason[na] = "deseq2_na_other"
        reason[na & cooks] = "deseq2_na_cooks_outlier"
        reason[na & all_zero] = "deseq2_na_all_zero"
    method = reason
    p = np.where(na, 1.0, p)
    fc = np.where(np.isfinite(fc), fc, 0.0)
    norm = dds.layers["normed_counts"] if "normed_counts" in dds.layers else counts_df.to_numpy()
    n_a = len(design.tumour)
    return deg_table(var, res["stat"].fillna(0.0).to_numpy(), p, method.astype(str), fc, norm[:n_a].mean(0),
                     norm[n_a:].mean(0),
                     design, alpha=alpha, correction=correction, log2fc_threshold=log2fc_threshold)


def contrast_of(ds: dict, params: dict) -> tuple[str, str, str]:
    """(column, group a, group b): the dataset's `deg.contrast`, else its condition column with
    deg.tumour_label vs deg.normal_label."""
    c = params.get("contrast")
    if c:
        return c["column"], str(c["groups"][0]), str(c["groups"][1])
    return ds.get("condition_column") or "condition", params["tumour_label"], params["normal_label"]


def is_tumour_normal(ds: dict, params: dict) -> bool:
    """Whether the contrast is the dataset's tumour/normal labels (its condition column with
    deg.tumour_label vs deg.normal_label); any other contrast (GBM vs LGG, B vs T lineage) is
    written up with its own group names, never as tumour vs normal."""
    column, a, b = contrast_of(ds, params)
    return (column == (ds.get("condition_column") or "condition") and a == params["tumour_label"]
            and b == params["normal_label"])


def group_names(ds: dict, params: dict) -> tuple[str, str]:
    """The two groups as the human-facing text names them: "tumour" / "normal" for the dataset's
    tumour/normal contrast, else the contrast's own labels."""
    _, a, b = contrast_of(ds, params)
    return ("tumour", "normal") if is_tumour_normal(ds, params) else (a, b)


def floor_check(design: Design, table: pd.DataFrame, params: dict) -> dict | None:
    """Whether the design's smallest attainable p-value lets the chosen correction reach alpha over
    the genes tested. None where the test has no floor (t-tests, DESeq2); else a dict with `floor`
    (untied data), `floor_ties` (any gene), `best_adjusted` (that correction's smallest adjusted p
    at the floor), `reachable`, and `message` (None when reachable).

    Bonferroni over m genes: the best adjusted p is m * floor, whatever the data; it reaches alpha
    iff m <= alpha / floor. BH: gene i of the sorted p's gets min over j >= i of m p_(j) / j; with
    every p >= floor this is >= m * floor / k for the k genes at the floor, so a gene at the floor
    alone gets m * floor (as Bonferroni), and BH reaches alpha only if at least
    K = ceil(m * floor / alpha) genes reach p <= K * alpha / m (all m at the floor: floor itself).
    Whether enough do is known from the data: BH is flagged when m * floor > alpha and no gene
    passes, and when floor > alpha (nothing can pass, whatever the correction)."""
    from math import ceil, log2
    from math import floor as int_floor

    method = params.get("method", "wilcoxon")
    n_a = design.n_pairs if design.kind == "paired" else len(design.tumour)
    n_b = len(design.normal)
    p_floor = smallest_p(design.kind, n_a, n_b, method)
    if p_floor is None:
        return None
    p_ties = smallest_p_with_ties(design.kind, n_a, n_b, method)
    low = min(p_floor, p_ties)
    m, alpha, correction = len(table), float(params["alpha"]), params["correction"]
    bh_passes = int((table["p_bh"] <= alpha).sum()) if "p_bh" in table else 0
    at_floor = int((table["pvalue"] <= p_floor * (1 + 1e-9)).sum())
    need_k = ceil(m * low / alpha - 1e-12)
    if correction == "bonferroni":
        best = min(1.0, m * low)
        reachable = best <= alpha
        how = f"Bonferroni over {m} genes gives at best min(1, {m} x {low:.3g} = {m * low:.3g})"
    else:
        best = min(1.0, m * low)  # a gene at the floor on its own
        reachable = low <= alpha and (best <= alpha or bh_passes > 0)
        how = (f"BH over {m} genes gives a gene at that floor min(1, {m * low:.3g}) on its own and passes genes "
               f"only if at "
               f"least {need_k} of them reach p <= {need_k} x {alpha:g} / {m} ({at_floor} genes are at the "
               f"floor, {bh_passes} pass)")
    out = {"floor": p_floor, "floor_ties": p_ties, "best_adjusted": best, "reachable": reachable, "message": None,
           "genes_at_floor": at_floor}
    if reachable:
        return out
    ways = []
    if correction == "bonferroni" and low <= alpha:
        ways.append(f"BH (`deg.correction: fdr_bh`), which passes {bh_passes} genes here" if bh_passes else
                    f"BH (`deg.correction: fdr_bh`) if at least {need_k} genes reached the floor ({at_floor} do)")
    max_genes = int_floor(alpha / low)
    if max_genes >= 1:
        ways.append(f"at most {max_genes} genes tested")
    if design.kind == "paired":
        need = max(ceil(log2(2 * m / alpha)), n_a + 1)  # 2 / 2^n * m <= alpha
        ways.append(f">= {need} matched pairs")
    else:
        need = next((k for k in range(max(n_a, n_b), 200) if m * smallest_p("unpaired", k, k) <= alpha), None)
        if need:
            ways.append(f">= {need} samples per group")
    alt_kind = "unpaired" if design.kind == "paired" else "paired"
    unused = design.unused if design.unused is not None else _unused_table([])
    if alt_kind == "unpaired":
        alt_a = len(design.tumour) + int(unused.loc[unused.side == "group_a", "n"].sum())
        alt_b = len(design.normal) + int(unused.loc[unused.side == "group_b", "n"].sum())
        alt = smallest_p("unpaired", alt_a, alt_b, method)
        alt_text = f"`deg.design: unpaired` on {alt_a} vs {alt_b} samples"
    else:
        alt = smallest_p("paired", design.n_pairs, design.n_pairs, method) if design.n_pairs >= 2 else None
        alt_text = f"`deg.design: paired` on its {design.n_pairs} matched pairs"
    if alt is not None and m * alt <= alpha:
        ways.append(f"{alt_text} (smallest p {alt:.3g})")
    ways.append("`deg.method: deseq2` (counts) or `welch` (log data), which have no such floor")
    ties = "" if p_ties >= p_floor else f"; tied genes' normal approximation can reach {p_ties:.3g}"
    out["message"] = (f"no gene can pass: the smallest p-value this design allows is {p_floor:.3g} ({design.note}"
                      f"{ties}), and {how} > alpha {alpha:g}. Would reach it: " + "; or ".join(ways))
    return out


def floor_warning(design, table: pd.DataFrame, params: dict) -> str | None:
    """floor_check's message: a warning when the design's smallest possible p-value keeps every
    gene above alpha after the chosen correction (e.g. 5 vs 5 samples: 2/252 = 0.0079 for the exact
    rank-sum test), naming what would reach it."""
    check = floor_check(design, table, params)
    return None if check is None else check["message"]
