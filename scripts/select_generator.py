"""Rule select_generator: the grid point with the best validation score, for one model and fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.generate import select_stage  # noqa: E402


def main(smk):
    select_stage({k: list(smk.input[k]) for k in ("cards", "synthetic", "curves")}, grid=list(smk.params.grid),
                 outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
