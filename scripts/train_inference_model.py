"""Rule train_inference_model: one regressor on one landmark set and fold; resumes after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.infer import train_inference_model  # noqa: E402

run_rule(snakemake, train_inference_model)  # noqa: F821
