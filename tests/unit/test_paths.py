"""gexflow.paths: every job's directory hash covers exactly its params (what the job reads) and
the directories it reads; runtime settings (devices, threads, download retries) name no directory;
requests for stale hashes are refused; the module stays import-light (it runs at every parse)."""

import copy
import subprocess
import sys

import pytest

from gexflow.config import load_config, validate_config
from gexflow.paths import PathRequestError, Paths, check_hash

from conftest import REPO, TINY_CONFIG


def paths_of(*files, edit=None):
    cfg = load_config([str(f) for f in files])
    if edit:
        edit(cfg)
    return Paths(validate_config(cfg, "test config"))


@pytest.fixture(scope="module")
def default():
    return paths_of(REPO / "config/config.yaml")


def every_dir(p: Paths) -> dict:
    """Every directory of the config's jobs, by a readable key."""
    out = {}
    for ds in p.config["run"]["datasets"]:
        out[f"filter {ds}"] = p.filter_dir(ds)
    for ds in p.config["deg"]["datasets"]:
        out[f"deg {ds}"] = p.deg_dir(ds)
    g = p.generate
    for exp in g.run:
        for m in g.models(exp):
            for s in g.seeds(exp):
                out[f"train {exp} {m} {s}"] = g.model_dir(exp, m, s)
            out[f"evaluate {exp} {m}"] = g.evaluation_dir(exp, m)
        out[f"compare {exp}"] = g.compare_dir(exp)
    i = p.infer
    for exp in i.run:
        for s in i.landmark_sets(exp):
            for m in i.models(exp):
                out[f"infer {exp} {s} {m}"] = i.model_dir(exp, s, m)
        out[f"infer compare {exp}"] = i.compare_dir(exp)
    e = p.embed
    for exp in e.run:
        for size in e.sizes(exp):
            out[f"embed {exp} {size}"] = e.model_dir(exp, size)
            out[f"embed evaluation {exp} {size}"] = e.evaluation_dir(exp, size)
        out[f"embed report {exp}"] = e.report_dir(exp)
    return out


def changed(a: Paths, b: Paths) -> set:
    da, db = every_dir(a), every_dir(b)
    return {k for k in da if da[k] != db[k]}


def test_runtime_settings_name_no_directory(default):
    def edit(c):
        for stage in ("generate", "infer", "embed"):
            c[stage]["device"], c[stage]["threads"] = "cpu", 8
        c["download"]["retries"], c["download"]["timeout_s"] = 9, 5
    assert changed(default, paths_of(REPO / "config/config.yaml", edit=edit)) == set()


def test_a_torch_models_setting_moves_only_that_model_and_what_reads_it(default):
    def edit(c):
        c["generate"]["settings"]["wgan_gp"]["lr_critic"] = 1e-4
    moved = changed(default, paths_of(REPO / "config/config.yaml", edit=edit))
    assert moved and all("wgan_gp" in k or k.startswith("compare ") for k in moved), moved
    assert any(k.startswith("train ") for k in moved) and "compare kirc_rcc" in moved


def test_the_loop_moves_torch_models_only(default):
    def edit(c):
        c["generate"]["loop"]["patience"] = 3
    moved = changed(default, paths_of(REPO / "config/config.yaml", edit=edit))
    trained = {k.split()[2] for k in moved if k.startswith("train ")}
    assert trained == {"wgan_gp", "cvae", "diffusion"}  # gaussian, shuffled, ctgan, tvae: the loop means nothing


def test_every_param_of_a_training_job_is_in_its_hash(default):
    """The property the rules rely on: two configs giving one job the same directory give it the
    same params (so a dry run never finds 'params have changed')."""
    g = default.generate
    for exp in g.run:
        for m in g.models(exp):
            base = g.train_params(exp, m)
            other = copy.deepcopy(default.config)
            section = other["generate"]["experiments"][exp].setdefault("settings", {}).setdefault(m, {})
            section["__probe__"] = 1  # any change of the params
            p2 = Paths(other)
            assert p2.generate.train_params(exp, m) != base
            assert p2.generate.model_dir(exp, m) != g.model_dir(exp, m), (exp, m)


def test_experiments_on_one_dataset_and_label_share_one_split(default):
    g, i, e = default.generate, default.infer, default.embed
    assert g.split_file("kirc_rcc") == g.split_file("kirc_deg")
    assert g.split_file("pancan11_l1000") == i.split_file("pancan11_l1000") == e.split_file("pancan11_fe")
    requests = default.split_requests()
    assert all(len(k[1]) == 8 for k in requests) and ("kirc", g.split_file("kirc_rcc").split("-")[-1][:8]) in requests


def test_a_datasets_split_override_reaches_every_stage_including_embed():
    def edit(c):
        c["datasets"]["pancan11"]["split"] = {"folds": 4}
    p = paths_of(REPO / "config/config.yaml", edit=edit)
    assert p.embed.split_params("pancan11_fe")["folds"] == 4 == p.generate.split_params("pancan11_l1000")["folds"]
    assert p.generate.split_params("kirc_rcc")["folds"] == 5


def test_a_gene_set_change_moves_the_experiment_but_not_its_split(default):
    def edit(c):
        c["select"]["sets"]["kegg_rcc"]["pathways"] = ["hsa05211", "hsa05200"]
    p = paths_of(REPO / "config/config.yaml", edit=edit)
    assert p.generate.experiment_dir("kirc_rcc") != default.generate.experiment_dir("kirc_rcc")
    assert p.generate.split_file("kirc_rcc") == default.generate.split_file("kirc_rcc")
    assert p.generate.experiment_dir("kirc_deg") == default.generate.experiment_dir("kirc_deg")


def test_list_and_gmt_sets_have_a_hash():
    def edit(c):
        c["select"]["sets"]["mine"] = {"method": "list", "file": "tests/data/kirc_subset_samples.tsv"}
        c["select"]["sets"]["both"] = {"method": "union", "of": ["mine", "kegg_rcc"]}
    p = paths_of(TINY_CONFIG, edit=edit)
    assert p.select_dir("kirc_subset", "both").split("-")[-1] != p.select_dir("kirc_subset", "kegg_rcc").split("-")[-1]


def test_stale_requests_and_hostile_names_are_refused(default):
    with pytest.raises(PathRequestError, match="does not match the current config"):
        check_hash("aaaaaaaa", "bbbbbbbb", "x")
    with pytest.raises(PathRequestError, match="not used by any experiment"):
        default.split_request("kirc", "00000000")
    with pytest.raises(PathRequestError, match="cannot be part of a path"):
        default.part("../etc", "datasets")
    with pytest.raises(PathRequestError, match="no experiment"):
        default.generate.experiment("nope")


def test_gpu_requests_follow_device_and_registry(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)

    def with_device(d):
        return paths_of(REPO / "config/config.yaml", edit=lambda c: c["generate"].update(device=d)).generate

    assert with_device("cpu").gpu("wgan_gp") == 0
    assert with_device("cuda").gpu("wgan_gp") == 1 and with_device("cuda").gpu("gaussian") == 0
    assert with_device("auto").gpu("wgan_gp") == 0  # no nvidia-smi here


def test_paths_is_import_light():
    code = ("import sys; import gexflow.paths, gexflow.code_inputs; "
            "print(','.join(m for m in ('torch', 'pandas', 'numpy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
