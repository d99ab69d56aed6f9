"""Rule download_kegg: KEGG REST pathways in the reference layout."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.download import download_kegg  # noqa: E402

run_rule(snakemake, download_kegg)  # noqa: F821
