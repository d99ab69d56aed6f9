"""Rule stage_embedded_references: the shipped KEGG / L1000 tables in the reference layout."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.download import stage_embedded_references  # noqa: E402

run_rule(snakemake, stage_embedded_references)  # noqa: F821
