"""Rule evaluate_embedding: classifier protocol, gene neighbours and imputation MAE of one size."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.embed import evaluate_embedding  # noqa: E402

run_rule(snakemake, evaluate_embedding)  # noqa: F821
