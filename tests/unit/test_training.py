"""The one training loop with a model that is not a generator: a linear map trained by MSE on
(x, y) tensors, selected on a *minimised* validation MAE. Resume after SIGKILL, validation-only
checkpoint choice, early stopping and damaged checkpoints, as the landmark and embedding stages
use them; the saved model files (byte-reproducible, plain data loaded with weights_only=True,
library pickles only behind their sha256) and the one training job. The matrices here are small
synthetic test data (named synthetic_*)."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from gexflow.errors import InputError
from gexflow.io import sha256_file
from gexflow.models import training as T
from gexflow.models.training import CHECKPOINT, LoopSettings, fit, seed_everything

from conftest import make_job, run_killed_then_resumed


class LinearRegressor:
    """Trainable: y = x W + b by mini-batch SGD with momentum on the MSE."""

    def __init__(self, n_in: int, n_out: int, lr: float = 0.05):
        self.device = torch.device("cpu")
        self.net = torch.nn.Linear(n_in, n_out)
        self.modules = {"linear": self.net}
        self.optimisers = {"linear": torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9)}

    def train_epoch(self, data, gen: torch.Generator, epoch: int) -> dict[str, float]:
        x, y = data
        order = torch.randperm(len(x), generator=gen)
        opt, total = self.optimisers["linear"], 0.0
        for start in range(0, len(x), 16):
            idx = order[start:start + 16]
            loss = ((self.net(x[idx]) - y[idx]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return {"mse": total / len(x)}


def synthetic_regression(n=120, n_in=6, n_out=4, seed=0):
    """Synthetic data: y = x W + noise; returns (train, validation) tensor pairs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    w = rng.normal(size=(n_in, n_out)).astype(np.float32)
    y = x @ w + 0.1 * rng.normal(size=(n, n_out)).astype(np.float32)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    return (x[:90], y[:90]), (x[90:], y[90:])


def validation_mae(val):
    x, y = val
    return lambda model, gen: float((model.net(x) - y).abs().mean().detach())


def test_linear_model_trains_and_selects_on_minimised_validation_mae():
    train, val = synthetic_regression()
    model = LinearRegressor(6, 4)
    start = validation_mae(val)(model, None)
    res = fit(model, train, validation_mae(val), maximise=False, metric_name="mae", gen=seed_everything(0),
              settings=LoopSettings(epochs=40, eval_every=5, patience=0))
    assert res.best_score < start / 5 and res.best_score == pytest.approx(res.history["val_mae"].min())
    assert res.history.loc[res.history["val_mae"].idxmin(), "epoch"] == res.best_epoch
    assert res.card["validation"] == {"mae": res.best_score}
    assert res.card["selection"].startswith("lowest validation mae")
    assert "val_mae" in res.history.columns and "mse" in res.history.columns


def test_lowest_validation_score_is_kept_and_early_stopping_counts_from_it():
    train, val = synthetic_regression()
    scores = iter([0.9, 0.5, 0.7, 0.2, 0.6, 0.8, 0.9, 0.1, 0.1])
    snapshots = {}

    def validate(model, gen):
        s = next(scores)
        snapshots[s] = {k: v.clone() for k, v in model.net.state_dict().items()}
        return s

    model = LinearRegressor(6, 4)
    res = fit(model, train, validate, maximise=False, metric_name="mae", gen=seed_everything(1),
              settings=LoopSettings(epochs=100, eval_every=2, patience=3))
    assert res.best_epoch == 8 and res.best_score == 0.2  # 4th evaluation
    assert res.stopped_early and res.epochs_run == 14  # 3 evaluations without a lower score
    for k, v in model.net.state_dict().items():  # the restored state is the one scored 0.2
        assert torch.equal(v, snapshots[0.2][k])


def test_nan_validation_score_is_never_best():
    train, val = synthetic_regression()
    scores = iter([float("nan"), 0.4, float("nan")])
    res = fit(LinearRegressor(6, 4), train, lambda m, g: next(scores), maximise=False, metric_name="mae",
              gen=seed_everything(1), settings=LoopSettings(epochs=6, eval_every=2, patience=0))
    assert res.best_score == 0.4 and res.best_epoch == 4


RESUME_SCRIPT = """
import torch
from test_training import LinearRegressor, synthetic_regression, validation_mae
from gexflow.models.training import LoopSettings, fit, seed_everything
train, val = synthetic_regression()
gen = seed_everything(5)
model = LinearRegressor(6, 4)
res = fit(model, train, validation_mae(val), maximise=False, metric_name="mae",
          settings=LoopSettings(epochs=30, eval_every=3, checkpoint_every=10, patience=0), gen=gen,
          checkpoint_dir=CHECKPOINT_DIR, fingerprint="f", on_epoch_end=kill_at_epoch)
torch.save({"best": res.best_state, "history": res.history, "resumed_from": res.resumed_from,
            "best_epoch": res.best_epoch, "seconds": res.seconds}, RESULT)
"""


def test_linear_model_resumes_after_sigkill_exactly(tmp_path):
    r = run_killed_then_resumed(RESUME_SCRIPT, tmp_path, kill_after=24)
    assert r.checkpoint_at_kill["epoch"] == 20
    a, b = r.uninterrupted, r.resumed
    assert a["resumed_from"] is None and b["resumed_from"] == 21
    assert a["best_epoch"] == b["best_epoch"]
    pd.testing.assert_frame_equal(a["history"].drop(columns="seconds"), b["history"].drop(columns="seconds"))
    assert b["seconds"] >= b["history"]["seconds"].iloc[-1]  # time before the kill is counted
    for k, v in a["best"]["linear"].items():
        assert torch.equal(v, b["best"]["linear"][k]), k


def test_checkpoint_of_other_metric_direction_is_ignored(tmp_path):
    train, val = synthetic_regression()
    kw = dict(settings=LoopSettings(epochs=4, eval_every=2, checkpoint_every=2, patience=0), checkpoint_dir=tmp_path,
              fingerprint="same")
    fit(LinearRegressor(6, 4), train, validation_mae(val), maximise=False, metric_name="mae", gen=seed_everything(1),
        **kw)
    res = fit(LinearRegressor(6, 4), train, validation_mae(val), maximise=True, metric_name="mae",
              gen=seed_everything(1), **kw)
    assert res.resumed_from is None and res.epochs_run == 4


def test_damaged_checkpoint_is_moved_aside_and_training_restarts(tmp_path):
    train, val = synthetic_regression()
    kw = dict(maximise=False, metric_name="mae", checkpoint_dir=tmp_path, fingerprint="f",
              settings=LoopSettings(epochs=6, eval_every=2, checkpoint_every=2, patience=0))
    gen = seed_everything(3)  # before the model: its initial weights come from the seeded stream
    clean = fit(LinearRegressor(6, 4), train, validation_mae(val), gen=gen, **kw)
    data = (tmp_path / CHECKPOINT).read_bytes()
    (tmp_path / CHECKPOINT).write_bytes(data[: len(data) // 3])  # truncated, as after a full disk
    gen = seed_everything(3)
    res = fit(LinearRegressor(6, 4), train, validation_mae(val), gen=gen, **kw)
    assert res.resumed_from is None and (tmp_path / (CHECKPOINT + ".corrupt")).exists()
    assert res.best_score == clean.best_score  # the same run from scratch
    assert os.path.getsize(tmp_path / CHECKPOINT) > len(data) // 3


# ------------------------------------------------------------------------------------ model files
def _seeded_later(seed):
    """A RandomState made unseeded, then set (as CTGAN's rdt transformers make them)."""
    rs = np.random.RandomState()
    rs.set_state(np.random.RandomState(seed).get_state())
    return rs


def test_saved_model_is_byte_reproducible_plain_data(tmp_path):
    """torch.save stamps a random serialization id into each archive; save_model must not. Numpy
    arrays and scalars become tensors and numbers, so the file loads with weights_only=True."""
    import zipfile

    torch.manual_seed(0)
    state = {"modules": {"g": torch.nn.Linear(12, 7).state_dict()}, "covariates": {"categorical": ["sex"]},
             "zscore": {"mean": np.arange(3.0), "n": np.int64(4)}}
    T.save_model(state, tmp_path / "a.pt")
    T.save_model(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.pt") as zf:
        assert zf.testzip() is None  # CRCs were patched along with the id
    back = T.load_model(tmp_path / "a.pt")
    assert back["covariates"] == state["covariates"] and back["zscore"]["n"] == 4
    assert isinstance(back["zscore"]["mean"], torch.Tensor) and back["zscore"]["mean"].tolist() == [0.0, 1.0, 2.0]
    assert all(torch.equal(v, back["modules"]["g"][k]) for k, v in state["modules"]["g"].items())
    assert (tmp_path / ".a.pt.sha256").read_text().strip() == sha256_file(tmp_path / "a.pt")  # its record
    state["modules"]["g"]["bias"][0] += 1
    T.save_model(state, tmp_path / "c.pt")
    assert (tmp_path / "c.pt").read_bytes() != (tmp_path / "a.pt").read_bytes()


def test_library_pickle_is_reproducible_and_loads_only_behind_its_sha256(tmp_path):
    """A library object (CTGAN's) is pickled reproducibly, refused by load_model (no code is
    unpickled there), and read by load_pickled_model only when its sha256 record matches."""
    state = {"peer": {"rng": _seeded_later(5)}, "settings": {"epochs": 2}}
    T.save_model(state, tmp_path / "a.pt", pickled=True)
    T.save_model({**state, "peer": {"rng": _seeded_later(5)}}, tmp_path / "b.pt", pickled=True)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    back = T.load_pickled_model(tmp_path / "a.pt")
    assert back["peer"]["rng"].random_sample() == np.random.RandomState(5).random_sample()
    with pytest.raises(InputError, match=r"a.pt: field '\(whole file\)': cannot be loaded safely"):
        T.load_model(tmp_path / "a.pt")
    data = bytearray((tmp_path / "b.pt").read_bytes())
    data[-30] ^= 0xFF
    (tmp_path / "b.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match="changed or damaged since it was written"):
        T.load_pickled_model(tmp_path / "b.pt")
    (tmp_path / ".a.pt.sha256").unlink()
    with pytest.raises(InputError, match="has no integrity record"):
        T.load_pickled_model(tmp_path / "a.pt")


def test_a_changed_plain_model_file_is_refused(tmp_path):
    T.save_model({"w": torch.ones(3)}, tmp_path / "m.pt")
    data = bytearray((tmp_path / "m.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "m.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match="m.pt: field '\\(whole file\\)': changed or damaged"):
        T.load_model(tmp_path / "m.pt")


# --------------------------------------------------------------------------- the one training job
def _linear_job(tmp_path, threads=1):
    import anndata as ad

    train_data, val = synthetic_regression()
    out = tmp_path / "model-x" / "fold_0"
    job = make_job("train_inference_model", output={"model": out / "model.pt", "card": out / "model_card.json",
                                                    "curve": out / "training_curve.tsv", "table": out / "t.tsv",
                                                    "h5ad": out / "a.h5ad"}, threads=threads)
    seen = {}

    def train(trainer, fail=False):
        seen["trainer"] = trainer
        res = trainer.fit(LinearRegressor(6, 4), train_data, validation_mae(val), epochs=6,
                          gen=trainer.generator(1), maximise=False, metric="mae")
        seen["checkpoint_written"] = (trainer.checkpoint_dir / CHECKPOINT).exists()
        seen["resumed_from"] = res.resumed_from
        if fail:
            raise RuntimeError("killed after the fit")
        return T.Trained(card=dict(res.card), curve=res.history, state={"modules": res.best_state},
                         outputs={"table": pd.DataFrame({"a": [1, 2]}),
                                  "h5ad": ad.AnnData(X=np.zeros((2, 3), dtype=np.float32))})

    return job, out, train, seen


def test_training_job_writes_every_output_with_its_record_and_drops_its_checkpoints(tmp_path):
    from gexflow.io import read_h5ad, read_intermediate, read_json

    job, out, train, seen = _linear_job(tmp_path, threads=2)
    loop = {"eval_every": 2, "checkpoint_every": 2, "patience": 0}
    T.training_job(job, train, identity=("x", 1), loop=loop, device="cpu", device_field="infer.device")
    trainer = seen["trainer"]
    assert trainer.checkpoint_dir == out / "checkpoints" and trainer.loop == loop and trainer.device == "cpu"
    assert seen["checkpoint_written"] and not (out / "checkpoints").exists()
    card = read_json(out / "model_card.json")
    assert card["threads"] == 2 and card["torch"] == torch.__version__ and card["validation"]["mae"] > 0
    assert list(read_intermediate(out / "t.tsv")["a"]) == [1, 2] and read_h5ad(out / "a.h5ad").shape == (2, 3)
    assert set(read_intermediate(out / "training_curve.tsv").columns) >= {"epoch", "val_mae"}
    assert set(T.load_model(out / "model.pt")["modules"]["linear"]) == {"weight", "bias"}


def test_a_failed_training_job_resumes_only_under_the_same_identity(tmp_path):
    job, out, train, seen = _linear_job(tmp_path)
    loop = {"eval_every": 2, "checkpoint_every": 2, "patience": 0}
    with pytest.raises(RuntimeError):
        T.training_job(job, lambda t: train(t, fail=True), identity="a", loop=loop, device="cpu",
                       device_field="x")
    assert (out / "checkpoints" / CHECKPOINT).exists() and not (out / "model_card.json").exists()
    T.training_job(job, train, identity="b", loop=loop, device="cpu", device_field="x")
    assert seen["resumed_from"] is None  # other settings: trained from scratch
    with pytest.raises(RuntimeError):
        T.training_job(job, lambda t: train(t, fail=True), identity="a", loop=loop, device="cpu",
                       device_field="x")
    T.training_job(job, train, identity="a", loop=loop, device="cpu", device_field="x")
    assert seen["resumed_from"] is not None


def test_job_fingerprint_covers_settings_and_code(tmp_path):
    code = tmp_path / "m.py"
    code.write_text("x = 1\n")
    a = T.job_fingerprint(("exp", {"lr": 1}), [code])
    assert a == T.job_fingerprint(("exp", {"lr": 1}), [code]) != T.job_fingerprint(("exp", {"lr": 2}), [code])
    code.write_text("x = 2\n")
    assert T.job_fingerprint(("exp", {"lr": 1}), [code]) != a


def test_cuda_requested_without_a_gpu_names_the_field(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert T.select_device("auto").type == "cpu" and T.select_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="field 'embed.device': cuda requested"):
        T.select_device("cuda", "embed.device")


class _RunsCode:
    """A test double for a hostile file: unpickling it would create `marker` (os.system-like)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["model.pt", "last.pt"])
def test_a_model_or_checkpoint_holding_code_is_refused_without_running_it(tmp_path, name):
    """The two code-execution reproductions: a model.pt handed over by a collaborator, and a
    last.pt left in a checkpoint directory, each a pickle whose __reduce__ runs code."""
    from gexflow.errors import InputError
    from gexflow.models.training import _load_checkpoint, load_model

    marker = tmp_path / "code_ran"
    path = tmp_path / name
    torch.save({"state": _RunsCode(marker)}, path)
    if name == "model.pt":
        with pytest.raises(InputError) as e:
            load_model(path)
        assert "cannot be loaded safely" in str(e.value) and e.value.field == "(whole file)"
    else:
        assert _load_checkpoint(path, "cpu") is None  # moved aside: training starts from scratch
        assert (tmp_path / "last.pt.corrupt").exists() and not path.exists()
    assert not marker.exists()
