"""Rules stage_embedded_bulk / stage_embedded_single_cell: verify and stage shipped data."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.download import stage_embedded  # noqa: E402


def main(smk):
    inputs = dict(smk.input.items())
    if "dataset" in smk.params.keys():  # single-cell: a TSV matrix is converted with the dataset's columns
        inputs["dataset"] = dict(smk.params.dataset)
    stage_embedded(inputs, dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
