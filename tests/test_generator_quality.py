"""Issue 14: within-class gamma, PRDC (against the `prdc` package), augmentation utility, paired
intervals, the conditional diffusion model and validation-only grid tuning.

Matrices built here are small *synthetic* test matrices (named `synthetic_*`), never biological
data."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gexflow.metrics.synthetic import augmentation_utility, gamma, paired_interval, prdc, within_class_gamma
from gexflow.models.diffusion import Diffusion, cosine_alpha_bar, ddim_sample, diffusion_loss
from gexflow.models.training import Batches, LoopSettings, fit, seed_everything

torch.set_num_threads(1)
DIFF_CFG = dict(timesteps=50, sample_steps=10, prediction="x0", hidden=[32], time_dim=8, dropout=0.0, cond_dropout=0.2,
                guidance=[0.0, 1.0], clip=6.0, lr=2e-3, weight_decay=0.0, batch_size=16, epochs=6)


def synthetic_classes(n_per=60, genes=12, seed=0):
    """Two classes with very different means and a shared within-class block correlation."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b"], n_per)
    factors = rng.normal(size=(2 * n_per, 3))
    loadings = np.zeros((3, genes))
    for k in range(3):
        loadings[k, k * genes // 3:(k + 1) * genes // 3] = 1.0
    X = factors @ loadings + 0.4 * rng.normal(size=(2 * n_per, genes))
    shift = np.random.default_rng(99).normal(scale=4.0, size=genes)  # the same class means for every seed
    X[labels == "b"] += shift
    return X, labels, shift


# --- within-class gamma ------------------------------------------------------------------------------------
def test_within_class_gamma_rejects_a_class_mean_copy_that_overall_gamma_accepts():
    real, labels, _ = synthetic_classes(seed=0)
    like, _, _ = synthetic_classes(seed=1)  # same distribution, new samples
    rng = np.random.default_rng(2)
    means = np.vstack([real[labels == c].mean(0) for c in ("a", "b")])
    synthetic_copy = means[(labels == "b").astype(int)] + 0.4 * rng.normal(size=real.shape)  # class means + noise
    assert gamma(real, synthetic_copy) > 0.8  # overall gamma is fooled by the class-mean shift
    copy = within_class_gamma(real, labels, synthetic_copy, labels)
    good = within_class_gamma(real, labels, like, labels)
    assert abs(copy["within_gamma"]) < 0.3 and good["within_gamma"] > 0.8
    assert good["within_gamma_classes"] == 2


def test_within_class_gamma_is_the_weighted_mean_of_per_class_gammas_and_skips_small_classes():
    real, labels, _ = synthetic_classes(seed=3)
    other, _, _ = synthetic_classes(seed=4)
    keep = np.r_[np.arange(60), np.arange(60, 90)]  # class a: 60, class b: 30 real samples
    r, lr = real[keep], labels[keep]
    ga = gamma(r[lr == "a"], other[labels == "a"])
    gb = gamma(r[lr == "b"], other[labels == "b"])
    got = within_class_gamma(r, lr, other, labels)["within_gamma"]
    assert got == pytest.approx((60 * ga + 30 * gb) / 90)
    tiny = np.r_[lr, ["c", "c"]]  # a class with 2 samples is skipped
    out = within_class_gamma(np.vstack([r, other[:2]]), tiny, other, labels)
    assert out["within_gamma"] == pytest.approx(got) and out["within_gamma_classes"] == 2
    assert np.isnan(within_class_gamma(r[:2], lr[:2], other, labels)["within_gamma"])


# --- PRDC ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift,k", [(0.0, 5), (1.5, 3), (0.5, 10)])
def test_prdc_matches_the_prdc_package(shift, k):
    prdc_pkg = pytest.importorskip("prdc")  # the test oracle (requirements.txt)
    rng = np.random.default_rng(int(shift * 10) + k)
    synthetic_real = rng.normal(size=(80, 6))
    synthetic_fake = rng.normal(size=(70, 6)) * 1.2 + shift
    want = prdc_pkg.compute_prdc(synthetic_real, synthetic_fake, nearest_k=k)
    got = prdc(synthetic_real, synthetic_fake, nearest_k=k)
    for m in ("precision", "recall", "density", "coverage"):
        assert got[m] == pytest.approx(float(want[m]), abs=1e-12), m


def test_prdc_known_cases():
    rng = np.random.default_rng(0)
    synthetic_real = rng.normal(size=(200, 4))
    same = prdc(synthetic_real, rng.normal(size=(200, 4)))
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and 0.7 < same["density"] < 1.3
    far = prdc(synthetic_real, rng.normal(size=(200, 4)) + 20)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = prdc(synthetic_real, np.zeros((200, 4)) + 0.01 * rng.normal(size=(200, 4)))  # mode collapse
    assert collapsed["precision"] == 1.0 and collapsed["coverage"] < 0.2 and collapsed["recall"] < 0.1


# --- augmentation utility --------------------------------------------------------------------------------------
def test_augmentation_utility_uses_the_same_real_subsets_for_every_model_and_rewards_useful_samples():
    X, labels, _ = synthetic_classes(n_per=60, seed=5)
    test_X, test_y, _ = synthetic_classes(n_per=40, seed=6)
    rng = np.random.default_rng(7)
    useful, useful_y, _ = synthetic_classes(n_per=100, seed=8)
    useless = rng.normal(size=(200, X.shape[1]))
    useless_y = rng.choice(["a", "b"], 200)
    kw = dict(sizes=[2, 10], repeats=3, seed=11)
    a = augmentation_utility(X, labels, useful, useful_y, test_X, test_y, **kw)
    b = augmentation_utility(X, labels, useless, useless_y, test_X, test_y, **kw)
    assert a["real_2"] == b["real_2"] and a["real_10"] == b["real_10"]  # the same real subsets
    assert a["augmented_2"] > 0.95 and a["utility_2"] == pytest.approx(a["augmented_2"] - a["real_2"])
    assert b["augmented_10"] < a["augmented_10"]


# --- paired intervals ------------------------------------------------------------------------------------------
def test_paired_interval_is_the_paired_t_interval():
    from scipy.stats import ttest_rel

    rng = np.random.default_rng(0)
    model, base = rng.normal(0.5, 0.1, 10), rng.normal(0.45, 0.1, 10)
    got = paired_interval(model - base)
    ci = ttest_rel(model, base).confidence_interval(0.95)
    assert got["ci_low"] == pytest.approx(ci.low) and got["ci_high"] == pytest.approx(ci.high)
    assert got["n_pairs"] == 10 and got["diff"] == pytest.approx((model - base).mean())
    assert got["distinguishable"] == (ci.low > 0 or ci.high < 0)
    assert paired_interval([0.1, 0.12, 0.11, np.nan])["distinguishable"] is True  # NaN pair dropped
    assert paired_interval([0.1, -0.1])["distinguishable"] is False
    assert paired_interval([0.1, 0.1])["distinguishable"] is False  # zero width: no evidence
    one = paired_interval([0.3])
    assert one["diff"] == 0.3 and np.isnan(one["ci_low"]) and one["distinguishable"] is False


def test_paired_differences_pair_models_on_the_same_fold():
    from gexflow.stages.generate import paired_differences, paired_text

    synthetic_per_fold = pd.DataFrame({
        "model": ["gaussian"] * 3 + ["m"] * 3, "fold": [0, 1, 2, 2, 0, 1],
        "within_gamma": [0.1, 0.5, 0.9, 0.95, 0.15, 0.55]})
    out = paired_differences(synthetic_per_fold, "gaussian").set_index(["model", "metric"])
    row = out.loc[("m", "within_gamma")]
    assert row["diff"] == pytest.approx(0.05) and row["n_pairs"] == 3
    assert row["ci_low"] == pytest.approx(0.05)  # fold-wise, not order-wise
    assert paired_text(row).startswith("+0.050 [+0.050, +0.050] not distinguishable")  # zero width


def test_paired_differences_over_folds_and_seeds_and_the_ceiling_on_its_folds():
    from gexflow.stages.generate import paired_differences, summarise

    rows = [{"model": "real_train", "fold": f, "seed": 0, "gamma": 0.8, "within_gamma": 0.5} for f in (0, 1)]
    for m, shift in (("gaussian", 0.0), ("m", 0.1)):
        rows += [{"model": m, "fold": f, "seed": s, "gamma": 0.4 + shift + 0.01 * s,
                  "within_gamma": 0.2 + shift + 0.01 * f} for f in (0, 1) for s in (0, 1)]
    synthetic_per_fold = pd.DataFrame(rows)
    out = paired_differences(synthetic_per_fold, "gaussian").set_index(["model", "metric"])
    assert out.at[("m", "gamma"), "n_pairs"] == 4 and out.at[("m", "gamma"), "diff"] == pytest.approx(0.1)
    assert out.at[("real_train", "gamma"), "n_pairs"] == 2  # the ceiling pairs on seed 0 only
    long = summarise(synthetic_per_fold).set_index(["model", "metric"])
    assert long.at[("m", "within_gamma_vs_ceiling"), "mean"] == pytest.approx((0.3 + 0.31) / 2 / 0.5)
    assert long.at[("m", "gamma"), "n_folds"] == 4 and ("m", "seed") not in long.index


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
    from gexflow.splits import fold_splits
    from gexflow.stages.generate import choose_grid_point, train_generator
    from test_generators import _kirc_subset_experiment

    X, obs, labels, exp = _kirc_subset_experiment()
    s = fold_splits(labels, obs["patient_barcode"], k=4, val_fraction=0.15, seed=0)[0]
    grid = [{"lr": 1e-3}, {"lr": 3e-3}, {"lr": 1e-2}]
    loop = dict(eval_every=2, checkpoint_every=100, patience=0)
    X2 = X.copy()
    X2[s.test] = np.random.default_rng(0).normal(size=X2[s.test].shape) * 100

    def cards(data):
        return [train_generator(data, obs, labels, (s.train, s.val, s.test), exp, "diffusion",
                                dict(DIFF_CFG, epochs=4, **p), seed=5, loop=loop)[2] for p in grid]

    a, b = cards(X), cards(X2)
    assert [c["validation"] for c in a] == [c["validation"] for c in b]
    assert choose_grid_point(a) == choose_grid_point(b)
    assert all(np.isfinite(c["validation"]["within_gamma"]) for c in a)


def test_select_stage_copies_the_best_validation_point_and_records_the_grid(tmp_path):
    import json

    import anndata as ad

    from gexflow.io import read_h5ad, write_h5ad, write_json, write_tsv
    from gexflow.stages.generate import choose_grid_point, select_stage

    grid = [{"lr": 1e-3}, {"lr": 3e-3}]
    scores = [0.2, 0.5]
    inputs = {"cards": [], "synthetic": [], "curves": []}
    for i, v in enumerate(scores):
        d = tmp_path / f"grid-{i}"
        write_json({"model": "diffusion", "fold": 0, "validation": {"within_gamma": v}, "timings_s": {"fit": 1.0}},
                   d / "model_card.json")
        write_h5ad(ad.AnnData(X=np.full((3, 2), float(i), dtype=np.float32)), d / "synthetic.h5ad")
        write_tsv(pd.DataFrame({"epoch": [1], "val_within_gamma": [v]}), d / "training_curve.tsv")
        for k, name in (("cards", "model_card.json"), ("synthetic", "synthetic.h5ad"),
                        ("curves", "training_curve.tsv")):
            inputs[k].append(str(d / name))
    out = {k: str(tmp_path / "selected" / n) for k, n in (("synthetic", "synthetic.h5ad"),
                                                           ("curve", "training_curve.tsv"),
                                                           ("card", "model_card.json"))}
    select_stage(inputs, grid=grid, outputs=out)
    card = json.loads(open(out["card"]).read())
    assert card["grid_point"] == 1 and card["grid_choice"] == {"lr": 3e-3}
    assert [g["validation_within_gamma"] for g in card["grid"]] == scores
    assert float(read_h5ad(out["synthetic"]).X[0, 0]) == 1.0  # the sha256 record was copied along
    assert choose_grid_point([{"validation": {"within_gamma": float("nan")}},
                              {"validation": {"within_gamma": -0.1}}]) == 1
