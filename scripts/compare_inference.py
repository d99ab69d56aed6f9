"""Rule compare_inference: the comparison table and figures of one inference experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.infer import compare_inference_stage  # noqa: E402


def main(smk):
    inputs = {k: (list(smk.input[k]) if k != "landmarks" else smk.input[k]) for k in smk.input.keys()}
    compare_inference_stage(inputs, exp_name=smk.wildcards.experiment, models=list(smk.params.models),
                            lmsets=list(smk.params.lmsets), outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
