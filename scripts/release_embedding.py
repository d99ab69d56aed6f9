"""Rule release_embedding: one factorized embedding of every sample, the size chosen on validation."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.release import release_embedding  # noqa: E402

run_rule(snakemake, release_embedding)  # noqa: F821
