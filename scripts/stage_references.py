"""Rule stage_embedded_references: verify the shipped KEGG / L1000 tables and stage them in
gexflow's reference layout (the same columns the remote download rules write)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.staging import stage_references  # noqa: E402


def main(smk):
    stage_references(smk.input.kegg, smk.input.l1000, smk.input.entrez_map, smk.input.get("sums") or None,
                     smk.output.kegg, smk.output.l1000)


run_step(snakemake, main)  # noqa: F821
