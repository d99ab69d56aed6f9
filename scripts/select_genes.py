"""Rule select_genes: one gene list and its coverage report."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.select import select_genes  # noqa: E402

run_rule(snakemake, select_genes)  # noqa: F821
