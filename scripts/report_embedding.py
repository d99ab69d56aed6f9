"""Rule report_embedding: classifier, gene-neighbour and imputation tables and figures of one experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.embed import report_embedding  # noqa: E402

run_rule(snakemake, report_embedding)  # noqa: F821
