"""Rebuild the small real-data subsets used by the tests (run from the repository root).

kirc_subset_log2rsem.tsv.gz: every 13th gene (293 genes) of resources/tcga/kirc_paired_log2rsem.tsv.gz,
all 144 samples, values unchanged; kirc_subset_samples.tsv: the matching sample sheet, unchanged.
Written without gzip timestamps so the bytes (and tests/data/SHA256SUMS) are reproducible.
"""

import gzip
import shutil
from pathlib import Path

import pandas as pd

here = Path(__file__).parent
expr = pd.read_csv("resources/tcga/kirc_paired_log2rsem.tsv.gz", sep="\t", dtype=str)
subset = expr.iloc[::13]
with gzip.GzipFile(here / "kirc_subset_log2rsem.tsv.gz", "wb", mtime=0) as fh:
    fh.write(subset.to_csv(sep="\t", index=False).encode())
shutil.copyfile("resources/tcga/kirc_paired_samples.tsv", here / "kirc_subset_samples.tsv")

# kirp_landmarks_6samples.tsv: a landmark-only matrix for the predict_targets test (issue 10): the
# L1000 landmark rows (by symbol) that kirc_subset holds, for the first 6 samples of the real KIRP
# table (resources/tcga/kirp_paired_rsem_norm.tsv.gz, linear RSEM normalized, values unchanged):
# samples the KIRC models never saw.
lm = pd.read_csv("resources/genesets/l1000_landmark_genes_978.tsv", sep="\t", dtype=str)
symbols = set(lm["symbol_orghs_2022"]) | set(lm["gene_symbol_lincs"])
wanted = [g for g in subset["gene_symbol"] if g in symbols]
kirp = pd.read_csv("resources/tcga/kirp_paired_rsem_norm.tsv.gz", sep="\t", dtype=str)
kirp = kirp[kirp["gene_symbol"].isin(wanted)].iloc[:, :7]
kirp.to_csv(here / "kirp_landmarks_6samples.tsv", sep="\t", index=False)

# kirp_kirc_genes_6samples.tsv: a new matrix for the embed_samples test: the KIRC subset's genes
# (by symbol) for the same 6 real KIRP samples (linear RSEM normalized, values unchanged).
kirp = pd.read_csv("resources/tcga/kirp_paired_rsem_norm.tsv.gz", sep="\t", dtype=str)
kirp = kirp[kirp["gene_symbol"].isin(set(subset["gene_symbol"]))].iloc[:, :7]
kirp.to_csv(here / "kirp_kirc_genes_6samples.tsv", sep="\t", index=False)
