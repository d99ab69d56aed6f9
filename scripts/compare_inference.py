"""Rule compare_inference: the comparison table and figures of one inference experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.infer import compare_inference  # noqa: E402

run_rule(snakemake, compare_inference)  # noqa: F821
