"""Rule stage_embedded_references: verify the shipped KEGG / L1000 tables and stage them in
gexflow's reference layout (the same columns the remote download rules write)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.download import stage_embedded_references  # noqa: E402


def main(smk):
    stage_embedded_references(dict(smk.input.items()), dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
