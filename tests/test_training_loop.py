"""The one training loop with a model that is not a generator: a linear map trained by MSE on
(x, y) tensors, selected on a *minimised* validation MAE. Resume after SIGKILL, validation-only
checkpoint choice, early stopping and damaged checkpoints, as the landmark and embedding stages
will use them. The matrices here are small synthetic test data (named synthetic_*)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from gexflow.models.training import CHECKPOINT, LoopSettings, fit, seed_everything

from conftest import REPO


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


RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {src!r})
    from test_training_loop import LinearRegressor, synthetic_regression, validation_mae
    from gexflow.models.training import LoopSettings, fit, seed_everything
    train, val = synthetic_regression()
    gen = seed_everything(5)
    model = LinearRegressor(6, 4)
    kill_at = int(sys.argv[2])
    def on_epoch_end(epoch):
        if epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up: as a killed cluster job
    res = fit(model, train, validation_mae(val), maximise=False, metric_name="mae",
              settings=LoopSettings(epochs=30, eval_every=3, checkpoint_every=10, patience=0), gen=gen,
              checkpoint_dir=sys.argv[1], fingerprint="f", on_epoch_end=on_epoch_end)
    torch.save({{"best": res.best_state, "history": res.history, "resumed_from": res.resumed_from,
                "best_epoch": res.best_epoch, "seconds": res.seconds}}, os.path.join(sys.argv[1], "result.pt"))
""")


def _run(tmp_path, ckdir, kill_at):
    script = tmp_path / "train_linear.py"
    script.write_text(RESUME_SCRIPT.format(tests=str(REPO / "tests"), src=str(REPO / "src")))
    return subprocess.run([sys.executable, str(script), str(ckdir), str(kill_at)], capture_output=True, text=True,
                          timeout=300)


def test_linear_model_resumes_after_sigkill_exactly(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _run(tmp_path, full, -1).returncode == 0
    p = _run(tmp_path, killed, 24)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert torch.load(killed / CHECKPOINT, weights_only=False)["epoch"] == 20
    p = _run(tmp_path, killed, -1)
    assert p.returncode == 0, p.stderr
    a, b = torch.load(full / "result.pt", weights_only=False), torch.load(killed / "result.pt", weights_only=False)
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
