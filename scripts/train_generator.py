"""Rule train_generator: one generator on one fold (also train_grid_point); resumes after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.generate import train_generator  # noqa: E402

run_rule(snakemake, train_generator)  # noqa: F821
