"""Run manifest in the spirit of nf-core's pipeline_info: enough to reproduce and audit a run."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import platform
import subprocess
import sys
from pathlib import Path

from gexflow.config import canonical_json
from gexflow.io import sha256_file, write_json

PACKAGES = ["gexflow", "snakemake", "snakemake-executor-plugin-slurm", "torch", "numpy", "pandas", "anndata",
            "scanpy", "scipy", "statsmodels", "matplotlib", "scikit-learn"]


def package_versions(names=PACKAGES) -> dict:
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def git_describe(workdir=".") -> str | None:
    try:
        r = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=workdir,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None


def compute_device() -> dict:
    try:
        import torch
    except ImportError:
        return {"type": "cpu", "torch": None}
    if torch.cuda.is_available():
        return {"type": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
                "cuda": torch.version.cuda}
    return {"type": "cpu", "cuda_available": False}


# Run records: outputs that also say how a run went. The same config gives the same bytes for every
# other output, and for these everything but the listed fields: how long steps took, and whether a
# killed training job was resumed from its checkpoint (the model it ends with is the same).
RUN_RECORD_FIELDS = {"model_card.json": ("timings_s", "resumed_from"),
                     "release_card.json": ("timings_s", "resumed_from"), "comparison_table.tsv": ("fit_seconds",)}
RUN_RECORDS = tuple(RUN_RECORD_FIELDS)


def is_run_record(path) -> bool:
    return Path(path).name in RUN_RECORDS


def run_record_content(path):
    """A run record without its run-dependent fields: equal for two runs of the same config."""
    path = Path(path)
    drop = RUN_RECORD_FIELDS[path.name]
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in drop}
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str).drop(columns=list(drop), errors="ignore").to_dict("list")


def build_manifest(config: dict, outputs: list[str], workdir=".") -> dict:
    files = [p for p in sorted(outputs) if Path(p).is_file()]
    return {
        "pipeline": "gexflow",
        "config": config,
        "config_sha256": hashlib.sha256(canonical_json(config).encode()).hexdigest(),
        "seed": config.get("seed"),
        "git_describe": git_describe(workdir),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": compute_device(),
        "outputs": {str(p): sha256_file(p) for p in files if not is_run_record(p)},
        "run_records": {str(p): sha256_file(p) for p in files if is_run_record(p)},
    }


def write_manifest(config: dict, outputs: list[str], dest, workdir=".") -> None:
    write_json(build_manifest(config, outputs, workdir), dest)
