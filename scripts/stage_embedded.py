"""Rules stage_embedded_bulk / stage_embedded_single_cell: verify and stage shipped data."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.staging import stage_file  # noqa: E402


def main(smk):
    sums = smk.input.get("sums") or None
    if "expression" in smk.output.keys():
        stage_file(smk.input.matrix, smk.output.expression, sums, compress=True)
        stage_file(smk.input.samples, smk.output.samples, sums)
    else:
        stage_file(smk.input.matrix, smk.output.matrix, sums)


run_step(snakemake, main)  # noqa: F821
