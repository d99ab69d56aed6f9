"""Rule compare_generators: the comparison table and figures of one experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.generate import compare_generators  # noqa: E402

run_rule(snakemake, compare_generators)  # noqa: F821
