"""Rule write_manifest: results/pipeline_info/manifest.json (config, versions, device, sha256s)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.report import write_manifest_stage  # noqa: E402


def main(smk):
    write_manifest_stage(smk.params.config, list(smk.input), smk.output.manifest)


run_step(snakemake, main)  # noqa: F821
