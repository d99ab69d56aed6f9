"""Rule call_degs: DEG table, summary and volcano plot for one dataset."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.deg import call_degs_stage  # noqa: E402


def main(smk):
    call_degs_stage(smk.input.h5ad, smk.params.dataset, smk.params.deg, table_out=smk.output.table,
                    summary_out=smk.output.summary, volcano_out=smk.output.volcano, name=smk.wildcards.dataset)


run_step(snakemake, main)  # noqa: F821
