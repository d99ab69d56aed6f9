"""Rule train_generator: one model on one fold; resumes from its checkpoint after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.generate import train_generator_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    train_generator_stage({k: smk.input[k] for k in ("h5ad", "genes", "split")}, exp_name=w.experiment,
                          exp=p.experiment, model=w.model, cfg=dict(p.settings), fold=int(w.fold), seed=p.seed,
                          device=p.device, loop=dict(p.loop), outputs=dict(smk.output.items()), threads=smk.threads,
                          code_files=list(smk.input.code), generator_seed=getattr(p, "generator_seed", None))


run_step(snakemake, main)  # noqa: F821
