import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
KIRC_SUBSET = DATA / "kirc_subset_log2rsem.tsv.gz"
KIRC_SAMPLES = DATA / "kirc_subset_samples.tsv"
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


@pytest.fixture
def workdir(tmp_path):
    """A scratch working directory that sees the repo's shipped files through symlinks."""
    for name in ("resources", "src", "tests", "config"):
        os.symlink(REPO / name, tmp_path / name)
    return tmp_path


def snakemake(workdir, *args, timeout=600, env=None):
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def copy_tiny_config(workdir, name="config.yaml", **edits):
    """The tiny config, optionally with nested edits given as dotted keys ('filter.min_expression')."""
    import yaml

    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    for dotted, value in edits.items():
        node = cfg
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    path = Path(workdir) / name
    path.write_text(yaml.safe_dump(cfg))
    return path


# Edits for tests about the data stages or the DAG itself: no model stage runs (each model stage
# has its own end-to-end test; running all of them in every workflow test would triple CI time).
MODEL_STAGES_OFF = {"generate.run": [], "infer.run": [], "embed.run": []}

_DELETE = object()
DELETE = _DELETE


def assert_same_run_records(dir_a, dir_b, records_a: dict, records_b: dict):
    """Two runs of one config: the same run records, equal but for timings (and resume marks)."""
    from gexflow.manifest import run_record_content

    assert sorted(records_a) == sorted(records_b) and records_a
    for path in records_a:
        assert run_record_content(Path(dir_a) / path) == run_record_content(Path(dir_b) / path), path


def planned_jobs(output: str) -> dict:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    import re

    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, re.S)
    if not m:
        return {}
    return {name: int(n) for name, n in (line.split() for line in m.group(1).strip().splitlines())}


def have_snakemake():
    return shutil.which(SNAKEMAKE) is not None


@contextlib.contextmanager
def serve_directory(root):
    """Serve `root` over HTTP on 127.0.0.1 (a free port) for the duration of the block."""
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def pytest_collection_modifyitems(config, items):
    """Run the SLURM test last: it leaves the slurm client installed, which slows snakemake
    start-up whenever no controller answers (see tests/slurm/cluster.sh)."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)
