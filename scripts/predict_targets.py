"""Rule predict_targets: a trained model applied to a user's landmark-only matrix."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.infer import predict_targets_stage  # noqa: E402


def main(smk):
    predict_targets_stage(smk.input.model, spec=dict(smk.params.spec), outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
