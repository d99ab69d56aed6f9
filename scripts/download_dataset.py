"""Rule download_dataset: one remote dataset fetched (cached, retried, checksummed) and staged."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.download import download_dataset  # noqa: E402

run_rule(snakemake, download_dataset)  # noqa: F821
