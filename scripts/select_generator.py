"""Rule select_generator: the grid point with the best validation score, for one model and fold."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.generate import select_generator  # noqa: E402

run_rule(snakemake, select_generator)  # noqa: F821
