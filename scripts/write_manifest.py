"""Rule write_manifest: results/pipeline_info/manifest.json (config, versions, device, sha256s)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.report import write_manifest  # noqa: E402

run_rule(snakemake, write_manifest)  # noqa: F821
