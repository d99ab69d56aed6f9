"""Rule evaluate_generator: every metric of one model (or the real ceiling) on every fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.generate import evaluate_generator  # noqa: E402

run_rule(snakemake, evaluate_generator)  # noqa: F821
