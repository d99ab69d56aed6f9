"""Rule filter_normalise: a dataset brought to log2(x + 1), filtered, written as AnnData with QC."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.filter import filter_normalise  # noqa: E402

run_rule(snakemake, filter_normalise)  # noqa: F821
