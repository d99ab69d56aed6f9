"""Generators, the shared training loop and the peers.

Matrices built here are small *synthetic* test matrices (named `synthetic_*`), never biological
data; the real-data checks use the 293-gene KIRC subset in tests/data."""

import math
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from gexflow.models.covariates import CovariateEmbedding, CovariateEncoder, embedding_size
from gexflow.models.cvae import CVAE, cvae_loss
from gexflow.models.training import Batches, LoopSettings, fit, save_model, seed_everything
from gexflow.models.wgan_gp import WGANGP, critic_loss, gradient_penalty

from conftest import KIRC_SAMPLES, KIRC_SUBSET, REPO

WGAN_CFG = dict(z_dim=8, generator_hidden=[32], critic_hidden=[32], optimiser="adam", betas=[0.0, 0.9],
                lr_generator=1e-3, lr_critic=1e-3, n_critic=2, gp_lambda=10.0, batch_size=16, epochs=30)
CVAE_CFG = dict(latent_dim=4, hidden=[32], dropout=0.1, batchnorm=True, beta=1.0, warmup_epochs=5,
                decoder_noise="learned", noise_sd=0.5, lr=1e-2, weight_decay=0.0, batch_size=16, epochs=30)
DIFFUSION_CFG = dict(timesteps=50, sample_steps=10, prediction="x0", hidden=[32], time_dim=8, dropout=0.0,
                     cond_dropout=0.2, guidance=[0.0, 1.0], clip=6.0, lr=1e-3, weight_decay=0.0, batch_size=16,
                     epochs=30)


def score_samples(score, codes, nums):
    """A generator's validate callback: `score` applied to samples for the given covariates."""
    return lambda model, gen: score(model.sample(codes, nums, gen).cpu().numpy())


def synthetic_obs(n, rng):
    return pd.DataFrame({"condition": rng.choice(["tumor", "normal"], n), "sex": rng.choice(["f", "m"], n),
                         "age": rng.normal(60, 10, n)}, index=[f"s{i}" for i in range(n)])


def synthetic_batches(n=64, genes=5, seed=0):
    """Synthetic data: gene 0 follows age, gene 1 the condition, the rest noise."""
    rng = np.random.default_rng(seed)
    obs = synthetic_obs(n, rng)
    enc = CovariateEncoder(["condition", "sex"], ["age"]).fit(obs)
    codes, nums = enc.transform(obs)
    x = rng.normal(size=(n, genes)).astype(np.float32) * 0.3
    x[:, 0] += 2 * nums[:, 0]
    x[:, 1] += (obs["condition"] == "tumor").to_numpy() * 2 - 1
    return Batches(torch.as_tensor(x), torch.as_tensor(codes), torch.as_tensor(nums)), enc, obs


# --- covariates ------------------------------------------------------------------------------------
def test_covariate_encoder_uses_training_statistics_and_sqrt_embeddings():
    rng = np.random.default_rng(1)
    train, test = synthetic_obs(50, rng), synthetic_obs(10, rng)
    test.loc[test.index[0], "condition"] = "never_seen"
    test.loc[test.index[1], "age"] = np.nan
    enc = CovariateEncoder(["condition", "sex"], ["age"]).fit(train)
    codes, nums = enc.transform(test)
    assert codes[0, 0] == 0 and (codes[1:, 0] > 0).all()  # unseen category -> the unknown slot
    assert nums[1, 0] == 0.0  # missing age -> training mean
    want = (test["age"].iloc[2:] - train["age"].mean()) / train["age"].std(ddof=0)
    np.testing.assert_allclose(nums[2:, 0], want, rtol=1e-5)
    assert [embedding_size(v) for v in (1, 2, 3, 4, 10, 26)] == [2, 2, 2, 3, 4, 6]
    emb = CovariateEmbedding(enc.vocab_sizes, 1)
    assert [e.embedding_dim for e in emb.embeddings] == [math.isqrt(2) + 1] * 2
    assert emb(torch.as_tensor(codes), torch.as_tensor(nums)).shape == (10, emb.out_dim)
    assert CovariateEncoder.from_dict(enc.to_dict()).transform(test)[0].tolist() == codes.tolist()


# --- WGAN-GP losses ----------------------------------------------------------------------------------
class LinearCritic(torch.nn.Module):
    """D(x) = w . x: its gradient is w everywhere, so the penalty is lambda (||w|| - 1)^2."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x, codes, nums):
        return x @ self.w


class QuadraticCritic(torch.nn.Module):
    """D(x) = ||x||^2 / 2: gradient x_bar, penalty lambda mean((||x_bar|| - 1)^2)."""

    def forward(self, x, codes, nums):
        return 0.5 * (x ** 2).sum(1)


def test_gradient_penalty_on_known_critics():
    real = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    eps = torch.tensor([[0.5], [0.25]])
    none = torch.zeros(2, 0)
    gp = gradient_penalty(LinearCritic([3.0, 4.0, 0.0]), real, fake, none, none, eps, 10.0)
    assert gp.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)  # ||w|| = 5 -> 160
    gp = gradient_penalty(QuadraticCritic(), real, fake, none, none, eps, 10.0)
    x_bar = np.array([[0.5, 0.0, 1.0], [0.75, 1.5, 0.75]])  # eps * real + (1 - eps) * fake
    want = 10.0 * np.mean((np.linalg.norm(x_bar, axis=1) - 1) ** 2)
    assert gp.item() == pytest.approx(want, rel=1e-6)
    total, w, gp2 = critic_loss(LinearCritic([3.0, 4.0, 0.0]), real, fake, none, none, eps, 10.0)
    d_real, d_fake = (real @ torch.tensor([3.0, 4.0, 0.0])).mean(), (fake @ torch.tensor([3.0, 4.0, 0.0])).mean()
    assert total.item() == pytest.approx((d_fake - d_real).item() + 160.0)
    assert w.item() == pytest.approx((d_real - d_fake).item())


def test_generator_output_depends_on_age():
    """Age is really used: the same noise and categories with another age give another sample,
    and after training the generated gene that follows age in the data follows it too."""
    data, enc, obs = synthetic_batches(n=128)
    gen = seed_everything(3)
    model = WGANGP(5, enc.vocab_sizes, 1, dict(WGAN_CFG, epochs=100, batch_size=16), torch.device("cpu"))
    ages_val = data.nums[:, 0].numpy()
    fit(model, data, score_samples(lambda s: np.corrcoef(ages_val, s[:, 0])[0, 1] - np.abs(s.std(0) - 1).mean(),
                                   data.codes, data.nums), gen=gen,
        settings=LoopSettings(epochs=100, eval_every=10, patience=0))
    z = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    codes = data.codes[:1].repeat(200, 1)
    ages = torch.linspace(-2, 2, 200).unsqueeze(1)
    with torch.no_grad():
        out = model.G(z, codes, ages)
        same_age = model.G(z, codes, torch.zeros_like(ages))
    assert not torch.allclose(out, same_age)
    r = np.corrcoef(ages.squeeze(1).numpy(), out[:, 0].numpy())[0, 1]
    assert r > 0.5, f"generated gene 0 does not follow age (r = {r:.2f})"


# --- CVAE ----------------------------------------------------------------------------------------------
def test_cvae_samples_include_decoder_noise_in_eval_mode():
    data, enc, obs = synthetic_batches()
    seed_everything(0)
    model = CVAE(5, enc.vocab_sizes, 1, dict(CVAE_CFG, decoder_noise="fixed", noise_sd=0.7), torch.device("cpu"))
    codes, nums = data.codes[:1].repeat(4000, 1), data.nums[:1].repeat(4000, 1)
    g = torch.Generator().manual_seed(1)
    s = model.sample(codes, nums, g)
    assert not model.net.training  # batch norm / dropout in eval mode while sampling
    z = torch.randn(4000, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mean = model.net.decode(z, codes, nums)
    resid = (s - mean).numpy()  # same z stream: the difference is the decoder noise alone
    assert resid.std(0) == pytest.approx(np.full(5, 0.7), rel=0.05)
    one = model.sample(codes[:1], nums[:1], torch.Generator().manual_seed(2))  # batch of 1 works in eval
    assert one.shape == (1, 5)


def test_cvae_loss_terms():
    data, enc, _ = synthetic_batches()
    model = CVAE(5, enc.vocab_sizes, 1, CVAE_CFG, torch.device("cpu")).net
    eps = torch.zeros(len(data), 4)
    total, recon, kl = cvae_loss(model, data.x, data.codes, data.nums, eps, beta=0.5)
    assert total.item() == pytest.approx(recon.item() + 0.5 * kl.item(), rel=1e-6)
    assert kl.item() >= 0


# --- the training loop: checkpoints, resume, validation-only selection ---------------------------------
RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys, numpy as np, torch
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {src!r})
    from test_generators import synthetic_batches, score_samples, WGAN_CFG
    from gexflow.models.training import LoopSettings, fit, seed_everything
    from gexflow.models.wgan_gp import WGANGP
    data, enc, obs = synthetic_batches()
    gen = seed_everything(11)
    model = WGANGP(5, enc.vocab_sizes, 1, WGAN_CFG, torch.device("cpu"))
    kill_at = int(sys.argv[2])
    def on_epoch_end(epoch):
        if epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up: as a killed cluster job
    res = fit(model, data, score_samples(lambda s: -float(np.abs(s.mean(0)).mean()), data.codes, data.nums),
              settings=LoopSettings(epochs=30, eval_every=5, checkpoint_every=10, patience=0), gen=gen,
              checkpoint_dir=sys.argv[1], fingerprint="f", on_epoch_end=on_epoch_end)
    torch.save({{"best": res.best_state, "history": res.history, "resumed_from": res.resumed_from,
                "best_epoch": res.best_epoch}}, os.path.join(sys.argv[1], "result.pt"))
""")


def _run_resume_script(tmp_path, ckdir, kill_at):
    script = tmp_path / "train.py"
    script.write_text(RESUME_SCRIPT.format(tests=str(REPO / "tests"), src=str(REPO / "src")))
    return subprocess.run([sys.executable, str(script), str(ckdir), str(kill_at)], capture_output=True, text=True,
                          timeout=300)


def test_training_resumes_after_sigkill_exactly(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _run_resume_script(tmp_path, full, -1).returncode == 0
    p = _run_resume_script(tmp_path, killed, 23)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert (killed / "last.pt").exists() and not (killed / "result.pt").exists()
    assert torch.load(killed / "last.pt", weights_only=False)["epoch"] == 20  # last checkpoint before the kill
    p = _run_resume_script(tmp_path, killed, -1)
    assert p.returncode == 0, p.stderr
    a, b = torch.load(full / "result.pt", weights_only=False), torch.load(killed / "result.pt", weights_only=False)
    assert a["resumed_from"] is None and b["resumed_from"] == 21
    assert a["best_epoch"] == b["best_epoch"]
    pd.testing.assert_frame_equal(a["history"].drop(columns="seconds"), b["history"].drop(columns="seconds"))
    for net in a["best"]:
        for k, v in a["best"][net].items():
            assert torch.equal(v, b["best"][net][k]), f"{net}.{k} differs after resume"


def test_saved_model_is_byte_reproducible_and_loads(tmp_path):
    """torch.save stamps a random serialization id into each archive, and a RandomState made
    unseeded then set (as CTGAN's rdt transformers do) pickles random entropy; save_model must not."""
    import zipfile

    def seeded_later(seed):
        rs = np.random.RandomState()
        rs.set_state(np.random.RandomState(seed).get_state())
        return rs

    torch.manual_seed(0)
    state = {"modules": {"g": torch.nn.Linear(12, 7).state_dict()}, "covariates": {"categorical": ["sex"]},
             "rng": seeded_later(5)}
    save_model(state, tmp_path / "a.pt")
    save_model({**state, "rng": seeded_later(5)}, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.pt") as zf:
        assert zf.testzip() is None  # CRCs were patched along with the id
    back = torch.load(tmp_path / "a.pt", weights_only=False)
    assert back["covariates"] == state["covariates"]
    assert back["rng"].random_sample() == np.random.RandomState(5).random_sample()
    assert all(torch.equal(v, back["modules"]["g"][k]) for k, v in state["modules"]["g"].items())
    state["modules"]["g"]["bias"][0] += 1
    save_model(state, tmp_path / "c.pt")
    assert (tmp_path / "c.pt").read_bytes() != (tmp_path / "a.pt").read_bytes()


def test_checkpoint_from_other_settings_is_ignored(tmp_path):
    data, enc, _ = synthetic_batches()
    kw = dict(validate=score_samples(lambda s: 0.0, data.codes, data.nums), checkpoint_dir=tmp_path,
              settings=LoopSettings(epochs=10, eval_every=5, checkpoint_every=5, patience=0))
    fit(WGANGP(5, enc.vocab_sizes, 1, WGAN_CFG, torch.device("cpu")), data, gen=seed_everything(1), fingerprint="a",
        **kw)
    res = fit(WGANGP(5, enc.vocab_sizes, 1, WGAN_CFG, torch.device("cpu")), data, gen=seed_everything(1),
              fingerprint="b", **kw)
    assert res.resumed_from is None and res.epochs_run == 10


def test_checkpoint_is_chosen_by_validation_score_only():
    """The loop keeps the state of the best validation score (not the last), and early-stops on it."""
    data, enc, _ = synthetic_batches()
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.9, 0.4, 0.3, 0.2, 0.1, 0.0])
    seen = []

    def score(s):
        seen.append(s.shape)
        return next(scores)

    model = WGANGP(5, enc.vocab_sizes, 1, WGAN_CFG, torch.device("cpu"))
    res = fit(model, data, score_samples(score, data.codes[:7], data.nums[:7]), gen=seed_everything(2),
              settings=LoopSettings(epochs=100, eval_every=2, patience=3))
    assert res.best_epoch == 10 and res.best_score == 0.9  # 5th evaluation
    assert res.stopped_early and res.epochs_run == 16  # 3 evaluations without improvement
    assert all(s == (7, 5) for s in seen)  # only ever the validation covariates
    for k, v in model.G.state_dict().items():
        assert torch.equal(v, res.best_state["generator"][k])


def _kirc_subset_experiment():
    from gexflow.experiment import class_labels
    from gexflow.io import read_expression_table

    X, _ = read_expression_table(KIRC_SUBSET, "gene_symbol")
    obs = pd.read_csv(KIRC_SAMPLES, sep="\t").set_index("sample_barcode")
    X = X.loc[obs.index].iloc[:, :20].to_numpy(dtype=np.float64)  # 20 real genes keep it fast
    exp = {"dataset": "kirc_subset", "genes": "first20", "label": "condition", "categorical": ["condition", "gender"],
           "numerical": ["age_at_diagnosis_years"], "contrast": {"column": "condition", "groups": ["tumor", "normal"]}}
    return X, obs, class_labels(obs, exp["label"]), exp


@pytest.mark.parametrize("model", ["wgan_gp", "cvae", "diffusion", "gaussian", "shuffled"])
def test_test_split_values_cannot_change_the_trained_model(model):
    """Training sees the test split only through its covariates: scrambling the test samples'
    expression leaves the selected model and its samples unchanged (no selection on test)."""
    from gexflow.splits import fold_splits
    from gexflow.stages.generate import train_generator

    X, obs, labels, exp = _kirc_subset_experiment()
    s = fold_splits(labels, obs["patient_barcode"], k=4, val_fraction=0.15, seed=0)[0]
    cfg = {"wgan_gp": dict(WGAN_CFG, epochs=6), "cvae": dict(CVAE_CFG, epochs=6),
           "diffusion": dict(DIFFUSION_CFG, epochs=6)}.get(model, {})
    loop = dict(eval_every=2, checkpoint_every=100, patience=0)
    a = train_generator(X, obs, labels, (s.train, s.val, s.test), exp, model, cfg, seed=5, loop=loop)
    X2 = X.copy()
    X2[s.test] = np.random.default_rng(0).normal(size=X2[s.test].shape) * 100
    b = train_generator(X2, obs, labels, (s.train, s.val, s.test), exp, model, cfg, seed=5, loop=loop)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2]["validation"] == b[2]["validation"]
    assert len(a[0]) == len(s.test) * a[2]["synthetic_per_test_sample"]
    assert a[1]["source_sample"].tolist() == list(obs.index[np.tile(s.test, a[2]["synthetic_per_test_sample"])])


# --- peers ---------------------------------------------------------------------------------------------
def test_gaussian_peer_recovers_class_means_and_shuffled_control_breaks_correlation():
    from gexflow.models.peers import ClassConditionalGaussian, ShuffledGenes

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 300)
    base = rng.normal(size=(600, 1))
    synthetic_X = np.hstack([base, base + 0.1 * rng.normal(size=(600, 1)), rng.normal(size=(600, 1))])
    synthetic_X[labels == "b"] += 5
    want = np.repeat(["a", "b"], 2000)
    g = ClassConditionalGaussian().fit(synthetic_X, labels).sample(want, np.random.default_rng(1))
    np.testing.assert_allclose(g[want == "b"].mean(0), synthetic_X[labels == "b"].mean(0), atol=0.1)
    assert np.corrcoef(g[want == "a"].T)[0, 1] > 0.9
    s = ShuffledGenes().fit(synthetic_X, labels).sample(want, np.random.default_rng(1))
    assert set(np.round(s[want == "b", 0], 12)) <= set(np.round(synthetic_X[labels == "b", 0], 12))
    assert abs(np.corrcoef(s[want == "a"].T)[0, 1]) < 0.1


def test_ctgan_and_tvae_peers_sample_the_requested_classes():
    from gexflow.models.peers import CtganPeer

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 40)
    synthetic_X = rng.normal(size=(80, 3)) + (labels == "b")[:, None] * 4
    want = np.array(["a"] * 5 + ["b"] * 7)
    for kind in ("ctgan", "tvae"):
        peer = CtganPeer(kind, {"epochs": 2, "batch_size": 20}, seed=0, device="cpu").fit(synthetic_X, labels)
        out = peer.sample(want, np.random.default_rng(0))
        assert out.shape == (12, 3) and np.isfinite(out).all()
