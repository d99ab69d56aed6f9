"""Rule train_embedding: the factorized embedding of one experiment, size and fold; resumes after a kill."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.embed import train_embedding  # noqa: E402

run_rule(snakemake, train_embedding)  # noqa: F821
