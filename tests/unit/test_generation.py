"""Generators (gexflow.generation and the generator models): covariates, WGAN-GP losses, the CVAE,
the conditional diffusion model (DDIM, classifier-free guidance chosen on validation), the shared
loop with generators (resume after SIGKILL, validation-only checkpoint choice), training on one
fold (test rows never reach training or selection), the validation-only grid, and the peers.

Matrices built here are small *synthetic* test matrices (named `synthetic_*`), never biological
data; the real-data checks use the 293-gene KIRC subset in tests/data."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gexflow import generation
from gexflow.errors import InputError
from gexflow.models.covariates import CovariateEmbedding, CovariateEncoder, embedding_size
from gexflow.models.cvae import CVAE, cvae_loss
from gexflow.models.diffusion import Diffusion, cosine_alpha_bar, ddim_sample, diffusion_loss
from gexflow.models.training import Batches, LoopSettings, Trainer, fit, seed_everything
from gexflow.models.wgan_gp import WGANGP, critic_loss, gradient_penalty

from conftest import KIRC_SAMPLES, KIRC_SUBSET, run_killed_then_resumed

torch.set_num_threads(1)

WGAN_CFG = dict(z_dim=8, generator_hidden=[32], critic_hidden=[32], optimiser="adam", betas=[0.0, 0.9],
                lr_generator=1e-3, lr_critic=1e-3, n_critic=2, gp_lambda=10.0, batch_size=16, epochs=30)
CVAE_CFG = dict(latent_dim=4, hidden=[32], dropout=0.1, batchnorm=True, beta=1.0, warmup_epochs=5,
                decoder_noise="learned", noise_sd=0.5, lr=1e-2, weight_decay=0.0, batch_size=16, epochs=30)
DIFFUSION_CFG = dict(timesteps=50, sample_steps=10, prediction="x0", hidden=[32], time_dim=8, dropout=0.0,
                     cond_dropout=0.2, guidance=[0.0, 1.0], clip=6.0, lr=1e-3, weight_decay=0.0, batch_size=16,
                     epochs=30)
# the diffusion model's own tests (issue 14): a little faster to learn, a few epochs
DIFF_CFG = dict(DIFFUSION_CFG, lr=2e-3, epochs=6)


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



# --- the training loop with a generator: checkpoints, resume, validation-only selection ------------------
RESUME_SCRIPT = """
import numpy as np, torch
from test_generation import synthetic_batches, score_samples, WGAN_CFG
from gexflow.models.training import LoopSettings, fit, seed_everything
from gexflow.models.wgan_gp import WGANGP
data, enc, obs = synthetic_batches()
gen = seed_everything(11)
model = WGANGP(5, enc.vocab_sizes, 1, WGAN_CFG, torch.device("cpu"))
res = fit(model, data, score_samples(lambda s: -float(np.abs(s.mean(0)).mean()), data.codes, data.nums),
          settings=LoopSettings(epochs=30, eval_every=5, checkpoint_every=10, patience=0), gen=gen,
          checkpoint_dir=CHECKPOINT_DIR, fingerprint="f", on_epoch_end=kill_at_epoch)
torch.save({"best": res.best_state, "history": res.history, "resumed_from": res.resumed_from,
            "best_epoch": res.best_epoch}, RESULT)
"""


def test_training_resumes_after_sigkill_exactly(tmp_path):
    r = run_killed_then_resumed(RESUME_SCRIPT, tmp_path, kill_after=23)
    assert r.checkpoint_at_kill["epoch"] == 20  # the last checkpoint before the kill
    a, b = r.uninterrupted, r.resumed
    assert a["resumed_from"] is None and b["resumed_from"] == 21
    assert a["best_epoch"] == b["best_epoch"]
    pd.testing.assert_frame_equal(a["history"].drop(columns="seconds"), b["history"].drop(columns="seconds"))
    for net in a["best"]:
        for k, v in a["best"][net].items():
            assert torch.equal(v, b["best"][net][k]), f"{net}.{k} differs after resume"


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
    """20 real genes of the KIRC subset, its sample sheet, the class labels and fold 0 of a 4-fold split."""
    from gexflow.experiment import class_labels
    from gexflow.io import read_expression_table
    from gexflow.splits import fold_splits

    X, _ = read_expression_table(KIRC_SUBSET, "gene_symbol")
    obs = pd.read_csv(KIRC_SAMPLES, sep="\t").set_index("sample_barcode")
    X = X.loc[obs.index].iloc[:, :20].to_numpy(dtype=np.float64)  # 20 real genes keep it fast
    exp = {"dataset": "kirc_subset", "genes": "first20", "label": "condition", "categorical": ["condition", "gender"],
           "numerical": ["age_at_diagnosis_years"], "contrast": {"column": "condition", "groups": ["tumor", "normal"]}}
    labels = class_labels(obs, exp["label"])
    s = fold_splits(labels, obs["patient_barcode"], k=4, val_fraction=0.15, seed=0)[0]
    return X, obs, labels, exp, (s.train, s.val, s.test)


def train_on_fold(X, obs, labels, split, exp, model, cfg, seed=5):
    """generation.train_on_fold in memory (no checkpoints), on the CPU, as a training job calls it."""
    trainer = Trainer(loop=dict(eval_every=2, checkpoint_every=100, patience=0), device="cpu")
    return generation.train_on_fold(X, obs, labels, split, exp, model, cfg, seed=seed, trainer=trainer)


@pytest.mark.parametrize("model", ["wgan_gp", "cvae", "diffusion", "gaussian", "shuffled"])
def test_test_split_values_cannot_change_the_trained_model(model):
    """Training sees the test split only through its covariates: scrambling the test samples'
    expression leaves the selected model and its samples unchanged (no selection on test)."""
    X, obs, labels, exp, split = _kirc_subset_experiment()
    cfg = {"wgan_gp": dict(WGAN_CFG, epochs=6), "cvae": dict(CVAE_CFG, epochs=6),
           "diffusion": dict(DIFFUSION_CFG, epochs=6), "gaussian": {"min_class": 3}}.get(model, {})
    a = train_on_fold(X, obs, labels, split, exp, model, cfg)
    X2 = X.copy()
    X2[split[2]] = np.random.default_rng(0).normal(size=X2[split[2]].shape) * 100
    b = train_on_fold(X2, obs, labels, split, exp, model, cfg)
    np.testing.assert_array_equal(a.synthetic, b.synthetic)
    assert a.card["validation"] == b.card["validation"]
    reps = a.card["synthetic_per_test_sample"]
    assert len(a.synthetic) == len(split[2]) * reps
    assert a.obs["source_sample"].tolist() == list(obs.index[np.tile(split[2], reps)])



# --- diffusion -----------------------------------------------------------------------------------------------
def test_cosine_schedule_decreases_from_one_to_zero():
    abar = cosine_alpha_bar(100)
    assert abar.shape == (100,) and 0.99 < abar[0] < 1 and abar[-1] < 1e-3
    assert (abar[1:] < abar[:-1]).all()


class _Oracle(nn.Module):
    """The exact noise predictor for data that sit at one point `c` (conditional) or at 0
    (unconditional): e = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)."""

    def __init__(self, abar, c):
        super().__init__()
        self.abar, self.c = abar, c
        self.net = nn.Sequential(nn.Linear(1, len(c)))

    def forward(self, x, t, codes, nums, keep):
        a = self.abar[t][:, None]
        return (x - a.sqrt() * self.c * keep) / (1 - a).sqrt()


def test_ddim_with_an_exact_denoiser_recovers_the_data_and_guidance_extrapolates():
    abar = cosine_alpha_bar(200)
    c = torch.tensor([1.0, -2.0, 0.5])
    codes, nums = torch.zeros(4, 0, dtype=torch.long), torch.zeros(4, 0)
    g = torch.Generator().manual_seed(0)
    x = ddim_sample(_Oracle(abar, c), abar, codes, nums, steps=20, guidance=0.0, gen=g, clip=10.0, device="cpu")
    torch.testing.assert_close(x, c.expand(4, 3), atol=1e-4, rtol=0)
    g = torch.Generator().manual_seed(0)
    x = ddim_sample(_Oracle(abar, c), abar, codes, nums, steps=20, guidance=1.0, gen=g, clip=10.0, device="cpu")
    torch.testing.assert_close(x, 2 * c.expand(4, 3), atol=1e-3, rtol=0)  # (1 + w) c - w 0


def synthetic_diffusion_data(n=96, genes=4, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 3, size=(n, 1))
    x = rng.normal(size=(n, genes)).astype(np.float32) * 0.3
    x[:, 0] += np.where(codes[:, 0] == 1, -1.5, 1.5)
    return Batches(torch.as_tensor(x), torch.as_tensor(codes), torch.zeros(n, 0))


def test_diffusion_loss_is_the_noise_mse_and_training_learns_the_condition():
    data = synthetic_diffusion_data()
    gen = seed_everything(0)
    model = Diffusion(4, [2], 0, dict(DIFF_CFG, epochs=60), torch.device("cpu"))
    t = torch.randint(0, 50, (len(data),), generator=gen)
    noise = torch.randn(data.x.shape, generator=gen)
    keep = torch.ones(len(data), 1)
    a = model.abar[t][:, None]
    xt = a.sqrt() * data.x + (1 - a).sqrt() * noise
    want = ((model.net(xt, t, data.codes, data.nums, keep) - noise) ** 2).mean()
    torch.testing.assert_close(diffusion_loss(model.net, model.abar, data.x, data.codes, data.nums, t, noise, keep),
                               want)
    first = model.train_epoch(data, gen, 1)["loss"]
    for e in range(2, 61):
        last = model.train_epoch(data, gen, e)["loss"]
    assert last < 0.7 * first
    codes = torch.tensor([[1]] * 200 + [[2]] * 200)
    s = model.sample(codes, torch.zeros(400, 0), torch.Generator().manual_seed(1)).numpy()
    assert np.isfinite(s).all() and s[:200, 0].mean() < -0.7 and s[200:, 0].mean() > 0.7


def test_diffusion_guidance_is_chosen_on_validation_and_kept_with_the_checkpoint():
    data = synthetic_diffusion_data()
    gen = seed_everything(1)
    model = Diffusion(4, [2], 0, dict(DIFF_CFG, guidance=[0.0, 0.5, 3.0]), torch.device("cpu"))
    target = np.where(data.codes.numpy()[:, 0] == 1, -1.5, 1.5)
    tried = []

    def score(s):  # prefers samples whose gene 0 is far beyond the class means: the largest weight wins
        tried.append(float(model.net.guidance))
        return float(np.mean(s[:, 0] * np.sign(target)))

    model.set_validation(score)
    res = fit(model, data, lambda m, g: score(m.sample(data.codes, data.nums, g).numpy()),
              settings=LoopSettings(epochs=4, eval_every=2, patience=0), gen=gen, metric_name="within_gamma")
    assert float(model.net.guidance) == 3.0 and float(res.best_state["denoiser"]["guidance"]) == 3.0
    model.set_validation(None)
    n = len(tried)
    model.sample(data.codes, data.nums, torch.Generator().manual_seed(0))
    assert len(tried) == n  # after training: no search, the stored weight


def test_diffusion_resume_after_interruption_is_exact(tmp_path):
    data = synthetic_diffusion_data()

    def run(ckpt, stop_at=None):
        gen = seed_everything(3)
        model = Diffusion(4, [2], 0, DIFF_CFG, torch.device("cpu"))
        model.set_validation(lambda s: -float(np.abs(s).mean()))

        def interrupt(epoch):
            if epoch == stop_at:
                raise KeyboardInterrupt

        res = fit(model, data, lambda m, g: -float(m.sample(data.codes, data.nums, g).abs().mean()),
                  settings=LoopSettings(epochs=6, eval_every=2, checkpoint_every=2, patience=0), gen=gen,
                  checkpoint_dir=ckpt, fingerprint="f", on_epoch_end=interrupt)
        return res, model

    whole, m1 = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", stop_at=5)
    resumed, m2 = run(tmp_path / "b")
    assert resumed.resumed_from == 5
    for k, v in m1.net.state_dict().items():
        torch.testing.assert_close(v, m2.net.state_dict()[k], rtol=0, atol=0)
    pd.testing.assert_frame_equal(whole.history.drop(columns="seconds"), resumed.history.drop(columns="seconds"))



# --- validation-only grid ------------------------------------------------------------------------------------
def test_grid_choice_never_reads_test_data():
    """Every grid point is trained and scored on training/validation rows only: scrambling the
    test samples' expression leaves every point's validation score, and so the choice, unchanged."""
    X, obs, labels, exp, split = _kirc_subset_experiment()
    grid = [{"lr": 1e-3}, {"lr": 3e-3}, {"lr": 1e-2}]
    X2 = X.copy()
    X2[split[2]] = np.random.default_rng(0).normal(size=X2[split[2]].shape) * 100

    def cards(data):
        return [train_on_fold(data, obs, labels, split, exp, "diffusion", dict(DIFF_CFG, epochs=4, **p)).card
                for p in grid]

    a, b = cards(X), cards(X2)
    assert [c["validation"] for c in a] == [c["validation"] for c in b]
    assert generation.choose_grid_point(a) == generation.choose_grid_point(b)
    assert all(np.isfinite(c["validation"]["within_gamma"]) for c in a)


def test_choose_grid_point_and_grid_card():
    cards = [{"model": "diffusion", "validation": {"within_gamma": v}, "timings_s": {"fit": f}}
             for v, f in ((0.2, 1.0), (float("nan"), 2.0), (0.5, 4.0), (0.5, 8.0))]
    grid = [{"lr": lr} for lr in (1e-3, 2e-3, 3e-3, 4e-3)]
    best = generation.choose_grid_point(cards)
    assert best == 2  # NaN is never best; the first of equal scores wins
    card = generation.grid_card(cards, grid, best)
    assert card["grid_point"] == 2 and card["grid_choice"] == {"lr": 3e-3}
    assert [p["validation_within_gamma"] for p in card["grid"]][::2] == [0.2, 0.5]
    assert card["timings_s"] == {"fit": 4.0, "fit_all_points": 15.0}
    assert generation.choose_grid_point([{"validation": {"within_gamma": float("nan")}},
                                         {"validation": {"within_gamma": -0.1}}]) == 1


def test_validation_score_is_within_class_gamma_and_minus_infinity_for_non_finite_samples():
    from gexflow.metrics.synthetic import gamma, within_class_gamma

    rng = np.random.default_rng(0)
    real, syn = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    classes = np.repeat(["a", "b"], 20)
    assert generation.validation_score(real, classes, syn) == \
        within_class_gamma(real, classes, syn, classes)["within_gamma"]
    tiny = np.array(["a", "b"] * 20)[:4]  # classes too small: overall gamma
    assert generation.validation_score(real[:4], tiny, syn[:4]) == pytest.approx(gamma(real[:4], syn[:4]))
    syn[0, 0] = np.nan
    assert generation.validation_score(real, classes, syn) == -np.inf


def test_unknown_generator_is_a_config_error():
    X, obs, labels, exp, split = _kirc_subset_experiment()
    with pytest.raises(InputError, match="field 'generate.models': unknown model 'gan9000'"):
        train_on_fold(X, obs, labels, split, exp, "gan9000", {})
    with pytest.raises(InputError, match="unknown model 'real_train'"):  # the ceiling is not trained
        train_on_fold(X, obs, labels, split, exp, "real_train", {})


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
    from gexflow.models.registry import model_class

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 40)
    synthetic_X = rng.normal(size=(80, 3)) + (labels == "b")[:, None] * 4
    want = np.array(["a"] * 5 + ["b"] * 7)
    for kind in ("ctgan", "tvae"):
        peer = model_class(kind)({"epochs": 2, "batch_size": 20}, 0, "cpu").fit(synthetic_X, labels)
        assert peer.kind == kind and peer.pickled  # a library object: model.pt only through load_pickled_model
        out = peer.sample(want, np.random.default_rng(0))
        assert out.shape == (12, 3) and np.isfinite(out).all()


def test_gaussian_peer_samples_a_class_with_a_constant_gene():
    """A gene constant in a class's few training samples makes its covariance only semi-definite:
    the draws fall back from Cholesky to the eigendecomposition; other classes draw as before."""
    from gexflow.models.peers import _draw_normal

    rng = np.random.default_rng(0)
    x = _draw_normal(rng, np.zeros(3), np.diag([1.0, 0.0, 2.0]), 400)
    assert x[:, 1].std() == 0 and 0.8 < x[:, 0].std() < 1.2
    a = _draw_normal(np.random.default_rng(1), np.zeros(2), np.eye(2), 5)
    b = np.random.default_rng(1).multivariate_normal(np.zeros(2), np.eye(2), size=5, method="cholesky")
    np.testing.assert_array_equal(a, b)
