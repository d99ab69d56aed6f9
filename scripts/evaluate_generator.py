"""Rule evaluate_generator: every metric of one model (or the real ceiling) on every fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.generate import evaluate_stage  # noqa: E402


def main(smk):
    p = smk.params
    inputs = {k: smk.input[k] for k in ("h5ad", "genes", "split")}
    inputs["synthetic"] = list(smk.input.get("synthetic", []))
    evaluate_stage(inputs, exp=p.experiment, model=smk.wildcards.model, folds=list(p.folds),
                   evaluation=dict(p.evaluation), seed=p.seed, out=smk.output.metrics,
                   runs=[tuple(r) for r in getattr(p, "runs", [])] or None)


run_step(snakemake, main)  # noqa: F821
