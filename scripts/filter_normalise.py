"""Rule filter_normalise: bring a dataset to log2(x + 1), filter it, write AnnData + QC."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.filter import filter_dataset  # noqa: E402


def main(smk):
    filter_dataset(dict(smk.input.items()), smk.params.dataset, smk.params.filter,
                   h5ad_out=smk.output.h5ad, steps_out=smk.output.steps, qc_out=smk.output.qc,
                   name=smk.wildcards.dataset, ids_out=smk.output.ids)


run_step(snakemake, main)  # noqa: F821
