"""Rule evaluate_inference: per-gene scores of one model's test predictions, every fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.infer import evaluate_inference  # noqa: E402

run_rule(snakemake, evaluate_inference)  # noqa: F821
