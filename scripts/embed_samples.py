"""Rule embed_samples: a user's new matrix embedded by the released factorized embedding."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.apply import embed_samples  # noqa: E402

run_rule(snakemake, embed_samples)  # noqa: F821
