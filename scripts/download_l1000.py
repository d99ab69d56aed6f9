"""Rule download_l1000: the LINCS L1000 landmark list in the reference layout."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.download import download_l1000  # noqa: E402

run_rule(snakemake, download_l1000)  # noqa: F821
