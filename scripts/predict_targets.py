"""Rule predict_targets: a trained model applied to a user's landmark-only matrix."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.apply import predict_targets  # noqa: E402

run_rule(snakemake, predict_targets)  # noqa: F821
