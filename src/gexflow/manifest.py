"""Run manifest in the spirit of nf-core's pipeline_info: enough to reproduce and audit a run."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
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


def build_manifest(config: dict, outputs: list[str], workdir=".") -> dict:
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
        "outputs": {str(p): sha256_file(p) for p in sorted(outputs) if Path(p).is_file()},
    }


def write_manifest(config: dict, outputs: list[str], dest, workdir=".") -> None:
    write_json(build_manifest(config, outputs, workdir), dest)
