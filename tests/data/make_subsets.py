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
