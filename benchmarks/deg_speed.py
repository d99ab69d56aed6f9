"""DEG test speed and exactness: gexflow against per-gene scipy loops, scipy's `axis=1` calls,
scanpy's rank_genes_groups(method="wilcoxon") and illico's asymptotic_wilcoxon (asymptotic
Mann-Whitney U in Rust), all timed in the same run on the embedded real data.

Usage: .venv/bin/python benchmarks/deg_speed.py [--repeats 5]
Datasets: KIRP full gene set (17,759 genes x 32 pairs, log2(x+1)) and KIRC (3,811 genes x 72 pairs).
Targets: >= 100x faster than the per-gene scipy loop, >= 20x faster than scanpy, within 3x
of scipy's axis=1 call, with per-gene-exact p-values (<= 1e-9 relative to the per-gene loop).
Target: the rank-sum test at least as fast as illico 0.6.0 on KIRP
(gexflow/illico time <= 1.0, best of --repeats, alternating the two calls), p-values still exact.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings
from functools import partial
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.stats as st

from gexflow import deg

os.environ.setdefault("TQDM_DISABLE", "1")  # illico draws a tqdm progress bar per call; read when tqdm is imported
import illico  # noqa: E402  (benchmark peer only, pinned in requirements.txt)
from loguru import logger  # noqa: E402

logger.disable("illico")  # and logs each call at INFO

REPO = Path(__file__).resolve().parents[1]


def load_pairs(matrix, samples, linear):
    expr = pd.read_csv(REPO / matrix, sep="\t", index_col=0)
    sheet = pd.read_csv(REPO / samples, sep="\t", dtype=str)
    t = sheet[sheet.condition == "tumor"].set_index("patient_barcode")["sample_barcode"].sort_index()
    n = sheet[sheet.condition == "normal"].set_index("patient_barcode")["sample_barcode"].loc[t.index]
    L = np.log2(expr + 1) if linear else np.log2(np.maximum(2.0 ** expr - 0.25, 0) + 1)
    return L[t.values].to_numpy(), L[n.values].to_numpy()


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def alternating_best_of(fns, repeats):
    """Best time of each function, calling them in turn so that load on a shared machine hits all."""
    times, outs = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            outs[i] = fn()
            times[i] = min(times[i], time.perf_counter() - t)
    return times, outs


def illico_adata(T, N):
    """illico's input: samples x genes AnnData with the group in .obs. Genes contiguous in memory
    (Fortran order), the faster of the two dense layouts for it (it reads chunks of gene columns)."""
    X = np.asfortranarray(np.concatenate([T, N], axis=1).T)
    obs = pd.DataFrame({"g": ["tumor"] * T.shape[1] + ["normal"] * N.shape[1]}, index=[f"s{i}" for i in range(len(X))])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[str(i) for i in range(X.shape[1])]))


def illico_wilcoxon(adata):
    # is_log1p only changes illico's fold change, not its test; the data are log2(x + 1).
    return illico.asymptotic_wilcoxon(adata, is_log1p=True, group_keys="g", reference="normal")


def illico_pvalues(res):
    return res.loc["tumor"]["p_value"].to_numpy()


def scanpy_wilcoxon(T, N):
    X = np.concatenate([T, N], axis=1).T
    adata = ad.AnnData(X, obs=pd.DataFrame({"g": ["tumor"] * T.shape[1] + ["normal"] * N.shape[1]},
                                           index=[f"s{i}" for i in range(X.shape[0])]).astype("category"),
                       var=pd.DataFrame(index=[str(i) for i in range(X.shape[1])]))
    sc.tl.rank_genes_groups(adata, "g", groups=["tumor"], reference="normal", method="wilcoxon", tie_correct=True)
    return adata


COLD_SCANPY = """
import sys, time, warnings
import numpy as np
sys.path.insert(0, {bench_dir!r})
from deg_speed import load_pairs, scanpy_wilcoxon
T, N = load_pairs({matrix!r}, {samples!r}, {linear!r})
warnings.simplefilter("ignore")
t = time.perf_counter()
scanpy_wilcoxon(T, N)
print(time.perf_counter() - t)
"""


def cold_scanpy_seconds(matrix, samples, linear):
    """scanpy's first call in a fresh process (numba compilation or cache load included): what a
    pipeline rule that runs rank_genes_groups once pays."""
    code = COLD_SCANPY.format(bench_dir=str(Path(__file__).parent), matrix=matrix, samples=samples, linear=linear)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def scanpy_pvalues(adata):
    res = adata.uns["rank_genes_groups"]
    names = np.array(res["names"]["tumor"]).astype(int)
    p = np.empty(len(names))
    p[names] = np.array(res["pvals"]["tumor"])
    return p


def max_rel_diff(a, b):
    finite = np.isfinite(b)
    return float(np.max(np.abs(a[finite] - b[finite]) / b[finite]))


def report(name, source, repeats):
    T, N = load_pairs(*source)
    print(f"\n== {name}: {T.shape[0]} genes x {T.shape[1]} pairs")
    for label, ours, loop_fn, axis_fn in (
        ("paired (signed-rank)", lambda: deg.wilcoxon_signed_rank(T, N), st.wilcoxon, st.wilcoxon),
        ("unpaired (rank-sum)", lambda: deg.mann_whitney_u(T, N), st.mannwhitneyu, st.mannwhitneyu),
    ):
        t_ours, res = best_of(ours, repeats)
        t_loop, loop_p = best_of(lambda loop_fn=loop_fn: np.array([loop_fn(T[i], N[i]).pvalue
                                                                   for i in range(len(T))]), 1)
        t_axis, axis_res = best_of(lambda axis_fn=axis_fn: axis_fn(T, N, axis=1), repeats)
        print(f"{label}: gexflow {t_ours:.3f} s | per-gene scipy loop {t_loop:.2f} s | scipy axis=1 {t_axis:.3f} s")
        print(f"  scipy loop: {t_loop / t_ours:.0f}x   scipy axis=1: {t_ours / t_axis:.2f}x of its time")
        print(f"  max relative p difference vs per-gene loop: gexflow {max_rel_diff(res.pvalue, loop_p):.1e}, "
              f"scipy axis=1 {max_rel_diff(axis_res.pvalue, loop_p):.1e}")
        methods = pd.Series(res.method).value_counts().to_dict()
        print(f"  per-gene methods: {methods}")
        if label.startswith("unpaired"):
            adata_il = illico_adata(T, N)  # data preparation outside the timer, as for the others
            illico_wilcoxon(adata_il)
            (t_g, t_il), (res_g, res_il) = alternating_best_of([ours, partial(illico_wilcoxon, adata_il)], repeats)
            print(f"  illico {version('illico')} asymptotic_wilcoxon: {t_il:.3f} s, gexflow {t_g:.3f} s "
                  f"(alternating calls, best of {repeats})")
            target = " (target <= 1.0)" if name.startswith("KIRP") else ""
            print(f"  gexflow/illico time on {name}: {t_g / t_il:.2f}{target}; max relative p difference "
                  f"vs per-gene scipy: illico {max_rel_diff(illico_pvalues(res_il), loop_p):.1e} (asymptotic only), "
                  f"gexflow {max_rel_diff(res_g.pvalue, loop_p):.1e}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scanpy_wilcoxon(T[:50], N[:50])  # numba compiles on first use: keep that out of the warm timing
                t_sc, adata = best_of(lambda: scanpy_wilcoxon(T, N), max(1, repeats // 2))
            print(f"  scanpy rank_genes_groups(wilcoxon), warm: {t_sc:.3f} s -> scanpy warm: {t_sc / t_ours:.1f}x; "
                  f"its p differ from per-gene scipy by up to {max_rel_diff(scanpy_pvalues(adata), loop_p):.1e} "
                  "(no continuity correction)")
            t_cold = cold_scanpy_seconds(*source)
            print(f"  scanpy in a fresh process (as a rule pays it): {t_cold:.2f} s -> "
                  f"scanpy cold: {t_cold / t_ours:.0f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    deg.wilcoxon_exact_pvalues.cache_clear()
    report("KIRP full genes", ("resources/tcga/kirp_paired_rsem_norm.tsv.gz",
                               "resources/tcga/kirp_paired_samples.tsv", True), args.repeats)
    report("KIRC pairs", ("resources/tcga/kirc_paired_log2rsem.tsv.gz",
                          "resources/tcga/kirc_paired_samples.tsv", False), args.repeats)


if __name__ == "__main__":
    main()
