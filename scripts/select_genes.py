"""Rule select_genes: one gene list (gene_id, symbol, source) and its coverage report."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.select import select_genes_stage  # noqa: E402


def main(smk):
    inputs = {k: v for k, v in smk.input.items() if k != "code"}
    select_genes_stage(inputs, smk.params.spec, genes_out=smk.output.genes, coverage_out=smk.output.coverage,
                       name=smk.wildcards.selection)


run_step(snakemake, main)  # noqa: F821
