"""Rule train_embedding: the factorized embedding of one experiment, size and fold; resumes from
its checkpoint after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.embed import train_embedding_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    inputs = {k: smk.input[k] for k in ("h5ad", "split", "genes_tsv") if k in smk.input.keys()}
    train_embedding_stage(inputs, exp_name=w.experiment, exp=dict(p.experiment), size=int(w.size),
                          cfg=dict(p.settings), fold=int(w.fold), seed=p.seed, device=p.device, loop=dict(p.loop),
                          outputs=dict(smk.output.items()), threads=smk.threads, code_files=list(smk.input.code))


run_step(snakemake, main)  # noqa: F821
