"""Stage report: rule write_manifest (results/pipeline_info/manifest.json)."""

from __future__ import annotations

from gexflow.manifest import write_manifest as build_and_write


def write_manifest(job) -> None:
    """Rule write_manifest: the resolved config, versions, device and the sha256 of every output.
    The config is the job's own (not a param): it is recorded, and reruns come from the outputs."""
    build_and_write(job.config, job.input["outputs"], job.output["manifest"], workdir=".")
