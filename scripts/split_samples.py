"""Rule split_samples: the K-fold train / validation / test split of one dataset and class label."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.split import split_samples_stage  # noqa: E402


def main(smk):
    p = smk.params
    split_samples_stage(smk.input.h5ad, label=p.label, patient_column=p.patient_column, folds=p.folds,
                        val_fraction=p.val_fraction, seed=p.seed, out=smk.output.split)


run_step(snakemake, main)  # noqa: F821
