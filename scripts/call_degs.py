"""Rule call_degs: DEG table, summary and volcano plot of one dataset."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.deg import call_degs  # noqa: E402

run_rule(snakemake, call_degs)  # noqa: F821
