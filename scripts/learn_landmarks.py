"""Rule learn_landmarks: the group-lasso MLP of one fold and the genes it ranks highest."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.infer import learn_landmarks_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    learn_landmarks_stage({k: smk.input[k] for k in ("h5ad", "landmarks", "split")}, exp_name=w.experiment,
                          exp=dict(p.experiment), cfg=dict(p.settings), fold=int(w.fold), seed=p.seed,
                          device=p.device, loop=dict(p.loop), outputs=dict(smk.output.items()), threads=smk.threads,
                          code_files=list(smk.input.code))


run_step(snakemake, main)  # noqa: F821
