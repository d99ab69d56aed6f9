"""The tiny config on a real single-node SLURM cluster (tests/slurm/cluster.sh) through
`--workflow-profile profiles/slurm`, compared byte for byte with a local run.

Runs last (conftest orders it so, and the file name sorts last): while the slurm client is
installed but no controller answers, every `snakemake` call pays a 10 s probe, so the cluster
script hides `sinfo` again when it stops the daemons.
"""

import json
import os
import subprocess

import pytest

from gexflow.io import sha256_file

from conftest import REPO, assert_same_run_records, copy_tiny_config, snakemake

# The data stages and the generators (training jobs with checkpoints and run records) on the
# cluster; the landmark and embedding stages use the same rule machinery and run in their own
# end-to-end tests.
SLURM_SCOPE = {"infer.run": [], "embed.run": []}

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]
CLUSTER = REPO / "tests/slurm/cluster.sh"
REQUIRED = os.environ.get("GEXFLOW_REQUIRE_SYSTEM_TESTS") == "1"  # set by .ci/run: CI must run it


def _skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        _skip_or_fail("the SLURM test starts slurmctld/slurmd and needs root")
    r = subprocess.run(["bash", CLUSTER, "install"], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        _skip_or_fail(f"cannot install the SLURM packages here: {r.stderr[-500:]}")
    r = subprocess.run(["bash", CLUSTER, "up"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    yield
    subprocess.run(["bash", CLUSTER, "down"], capture_output=True, text=True, timeout=120)


def test_slurm_run_matches_local_run(cluster, workdir, tmp_path_factory):
    cfg = copy_tiny_config(workdir, **SLURM_SCOPE)
    # A hard timeout: a misconfigured status query can leave the plugin waiting forever.
    r = snakemake(workdir, "--configfile", cfg, "--workflow-profile", REPO / "profiles/slurm",
                  "--slurm-no-account", "--slurm-status-command", "squeue",
                  "--slurm-init-seconds-before-status-checks", 1, "--seconds-between-status-checks", 2,
                  timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    submitted = out.count("has been submitted with SLURM jobid")
    assert submitted >= 10, f"only {submitted} jobs went through SLURM"

    local = tmp_path_factory.mktemp("local")
    for name in ("resources", "src", "tests", "config"):
        os.symlink(REPO / name, local / name)
    r = snakemake(local, "--cores", 2, "--configfile", copy_tiny_config(local, **SLURM_SCOPE))
    assert r.returncode == 0, r.stderr[-4000:]

    on_slurm = json.loads((workdir / "results/pipeline_info/manifest.json").read_text())
    on_local = json.loads((local / "results/pipeline_info/manifest.json").read_text())
    assert on_slurm["outputs"] == on_local["outputs"] and len(on_slurm["outputs"]) >= 15
    for path in on_slurm["outputs"]:
        assert sha256_file(workdir / path) == sha256_file(local / path), path
    assert_same_run_records(workdir, local, on_slurm["run_records"], on_local["run_records"])
    # The manifest itself differs only in the run records' checksums.
    for m in (on_slurm, on_local):
        del m["run_records"]
    assert on_slurm == on_local
