"""Rule split_samples: the K-fold train / validation / test split of one dataset and class label."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.split import split_samples  # noqa: E402

run_rule(snakemake, split_samples)  # noqa: F821
