"""Rule refit_generator: the generator chosen on validation refitted on the cohort minus a privacy holdout."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.release import refit_generator  # noqa: E402

run_rule(snakemake, refit_generator)  # noqa: F821
