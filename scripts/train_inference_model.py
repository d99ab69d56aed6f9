"""Rule train_inference_model: one regressor on one landmark set and fold; resumes after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.infer import train_inference_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    inputs = {k: smk.input[k] for k in ("h5ad", "landmarks", "split", "learned") if k in smk.input.keys()}
    train_inference_stage(inputs, exp_name=w.experiment, exp=dict(p.experiment), lmset=w.lmset, model=w.model,
                          cfg=dict(p.settings), fold=int(w.fold), seed=p.seed, device=p.device, loop=dict(p.loop),
                          outputs=dict(smk.output.items()), threads=smk.threads, code_files=list(smk.input.code))


run_step(snakemake, main)  # noqa: F821
