"""Rule compare_generators: the comparison table (TSV) and figures of one experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.generate import compare_stage  # noqa: E402


def main(smk):
    p = smk.params
    compare_stage({k: smk.input[k] for k in ("h5ad", "genes", "split")}, metrics=list(smk.input.metrics),
                  synthetic=list(smk.input.synthetic), curves=list(smk.input.curves), cards=list(smk.input.cards),
                  exp_name=smk.wildcards.experiment,
                  exp=p.experiment, models=list(p.models), note=p.note, evaluation=dict(p.evaluation),
                  outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
