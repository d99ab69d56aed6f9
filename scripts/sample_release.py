"""Rule sample_release: the released synthetic cohort and its quality and privacy record."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.release import sample_release  # noqa: E402

run_rule(snakemake, sample_release)  # noqa: F821
