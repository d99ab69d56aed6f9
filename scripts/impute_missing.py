"""Rule impute_missing: a dataset's real missing values imputed by a factorized embedding."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.embed import impute_missing  # noqa: E402

run_rule(snakemake, impute_missing)  # noqa: F821
