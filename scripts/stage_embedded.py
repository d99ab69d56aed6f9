"""Rules stage_embedded_bulk / stage_embedded_single_cell: verify and stage shipped data."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.download import stage_embedded  # noqa: E402


def main(smk):
    stage_embedded(dict(smk.input.items()), dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
