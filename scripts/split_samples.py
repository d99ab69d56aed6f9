"""Rule split_samples: the K-fold train / validation / test split of one experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.generation import write_split  # noqa: E402
from gexflow.runner import run_step  # noqa: E402


def main(smk):
    p = smk.params
    write_split(smk.input.h5ad, p.experiment, p.dataset, folds=p.folds, val_fraction=p.val_fraction, seed=p.seed,
                out=smk.output.split)


run_step(snakemake, main)  # noqa: F821
