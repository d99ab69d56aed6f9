"""Every envs/*.yaml parses, and each pinned package agrees with requirements.txt."""

import re

import yaml

from conftest import REPO

CONDA_TO_PIP = {"pytorch": "torch"}


def _pip_pins():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_requirements_pin_everything_and_torch_is_cpu_pin():
    pins = _pip_pins()
    assert pins["torch"] == "2.13.0"
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or "==" in line, f"unpinned requirement: {line}"


def test_env_files_parse_and_agree_with_pip_pins():
    pins = _pip_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "conda-forge" in spec["channels"], env.name
        for dep in spec["dependencies"]:
            assert isinstance(dep, str), f"{env.name}: unexpected entry {dep!r}"
            name, _, version = dep.partition("=")
            name = CONDA_TO_PIP.get(name, name).lower()
            if name in pins:
                assert version == pins[name], f"{env.name}: {dep} but requirements.txt pins {pins[name]}"
            elif name != "python":
                assert version == "", f"{env.name}: {dep} pins a package requirements.txt does not"


def test_every_rule_points_at_an_existing_env():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env}"
