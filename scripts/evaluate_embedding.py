"""Rule evaluate_embedding: classifier protocol, gene neighbours and imputation MAE of one
experiment and size, over the folds run."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.embed import evaluate_embedding_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    inputs = {k: smk.input[k] for k in ("h5ad", "split", "genes_tsv", "kegg") if k in smk.input.keys()}
    inputs.update({k: list(smk.input[k]) for k in ("samples", "genes_emb", "entries")})
    evaluate_embedding_stage(inputs, exp_name=w.experiment, exp=dict(p.experiment), size=int(w.size),
                             folds=list(p.folds), evaluation=dict(p.evaluation), seed=p.seed,
                             outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
