"""Report stage: the run manifest (results/pipeline_info/manifest.json)."""

from __future__ import annotations

from gexflow.manifest import write_manifest


def write_manifest_stage(config: dict, outputs: list, manifest_out) -> None:
    write_manifest(config, outputs, manifest_out, workdir=".")
