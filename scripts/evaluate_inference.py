"""Rule evaluate_inference: per-gene scores of one model's test predictions, every fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.infer import evaluate_inference_stage  # noqa: E402


def main(smk):
    evaluate_inference_stage({"h5ad": smk.input.h5ad, "split": smk.input.split,
                              "predictions": list(smk.input.predictions)},
                             model=smk.wildcards.model, lmset=smk.wildcards.lmset, folds=list(smk.params.folds),
                             outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
