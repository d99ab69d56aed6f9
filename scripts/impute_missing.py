"""Rule impute_missing: a dataset's real missing values imputed by a factorized embedding."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.embed import impute_missing_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    inputs = {k: smk.input[k] for k in ("h5ad", "expression", "genes_tsv") if k in smk.input.keys()}
    impute_missing_stage(inputs, exp_name=w.experiment, exp=dict(p.experiment), ds=dict(p.dataset), size=int(p.size),
                         cfg=dict(p.settings), seed=p.seed, device=p.device, loop=dict(p.loop),
                         outputs=dict(smk.output.items()), threads=smk.threads)


run_step(snakemake, main)  # noqa: F821
