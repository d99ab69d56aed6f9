"""Conditional generators on one fold of the shared split: train a registered model (the torch
models in the one training loop, the peers by their own fit) on the training rows, choose its
checkpoint (and the diffusion guidance weight) on the validation rows, sample for the test rows'
covariates, and score synthetic samples the same way for every model.

Scales: models train on z-scores fitted on the training split (the WGAN-GP paper's
standardisation); synthetic samples are mapped back to log2(x+1) before anything is written or
scored. Synthetic samples are generated for the test split's covariates, repeated
round(n_train / n_test) times so their count matches the real training split that the
real-vs-real ceiling is computed from.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.experiment import derived_seed, label_columns, replicate_factor
from gexflow.filtering import ZScore
from gexflow.models.registry import MODELS, model_class, trainable

log = logging.getLogger("gexflow.generation")
VALIDATION_METRIC = "within_gamma"


def validation_score(real: np.ndarray, classes: np.ndarray, synthetic: np.ndarray) -> float:
    """The generators' selection metric on the validation split: within-class gamma (the samples
    of `synthetic` were generated for the validation rows, so they share `classes`); overall gamma
    when no class has enough validation samples; -inf for non-finite samples."""
    from gexflow.metrics.synthetic import gamma, within_class_gamma

    if not np.all(np.isfinite(synthetic)):
        return -np.inf
    g = within_class_gamma(real, classes, synthetic, classes)["within_gamma"]
    return g if np.isfinite(g) else gamma(real, synthetic)


@dataclass
class FoldResult:
    synthetic: np.ndarray  # samples x genes, log2(x+1)
    obs: pd.DataFrame  # the test rows' covariates they were generated for (source_sample first)
    card: dict
    curve: pd.DataFrame
    state: dict  # what model.pt holds
    pickled: bool = False  # the state holds a library object (CTGAN, TVAE) rather than plain data


def train_on_fold(X: np.ndarray, obs: pd.DataFrame, labels: np.ndarray, split, exp: dict, model: str, cfg: dict, *,
                  seed: int, trainer) -> FoldResult:
    """Fit `model` on the training rows only and sample for the test covariates. Test rows are
    read only for their covariates, after training."""
    if model not in trainable("generate"):
        raise InputError("config", "generate.models", f"unknown model '{model}'",
                         f"use one of: {', '.join(trainable('generate'))}")
    train, val, test = split
    zs = ZScore.fit(X[train])
    Z = zs.transform(X)
    r_test, r_val = replicate_factor(len(train), len(test)), replicate_factor(len(train), len(val))
    test_rows, val_rows = np.tile(test, r_test), np.tile(val, r_val)
    card = {"model": model, "seed": seed, "settings": cfg, "n_train": int(len(train)), "n_val": int(len(val)),
            "n_test": int(len(test)), "n_genes": int(X.shape[1]), "synthetic_per_test_sample": r_test}
    state: dict = {"zscore": zs.to_dict()}

    def score(s):  # within-class gamma of samples for the validation covariates: higher is better
        return validation_score(Z[val_rows], labels[val_rows], s)

    pickled = False
    if MODELS[model].kind == "torch":
        syn_z, curve = _train_torch(Z, obs, split, val_rows, test_rows, exp, model, cfg, seed, trainer, score, card,
                                    state)
    else:
        syn_z, curve, pickled = _fit_peer(Z, labels, train, val_rows, test_rows, exp, model, cfg, seed, trainer,
                                          score, card, state)
    if not np.all(np.isfinite(syn_z)):
        raise InputError("config", f"generate.settings.{model}", f"{model} produced non-finite samples",
                         "lower its learning rate (lr), or train fewer epochs")
    synthetic = zs.inverse_transform(syn_z)
    syn_obs = obs.iloc[test_rows].copy()
    syn_obs.insert(0, "source_sample", obs.index[test_rows].astype(str))
    syn_obs.index = [f"synthetic_{i}" for i in range(len(syn_obs))]
    return FoldResult(synthetic, syn_obs, card, curve, state, pickled)


def _train_torch(Z, obs, split, val_rows, test_rows, exp, model, cfg, seed, trainer, score, card, state):
    """A torch generator in the one loop: conditioned on the embedded covariates, checkpoint by
    validation within-class gamma."""
    import torch

    from gexflow.models.covariates import CovariateEncoder
    from gexflow.models.training import Batches

    train = split[0]
    dev = trainer.torch_device()
    gen = trainer.generator(seed)
    enc = CovariateEncoder(exp.get("categorical", []), exp.get("numerical", [])).fit(obs.iloc[train])

    def tensors(rows):
        codes, nums = enc.transform(obs.iloc[rows])
        return torch.as_tensor(codes), torch.as_tensor(nums)

    tc, tn = tensors(train)
    data = Batches(torch.as_tensor(Z[train], dtype=torch.float32).to(dev), tc.to(dev), tn.to(dev))
    vc, vn = tensors(val_rows)
    net = model_class(model)(Z.shape[1], enc.vocab_sizes, len(enc.numerical), cfg, dev)
    if hasattr(net, "set_validation"):  # a model that tunes a sampling setting (diffusion: guidance) on it
        net.set_validation(score)
    res = trainer.fit(net, data, lambda m, g: score(m.sample(vc, vn, g).cpu().numpy()), epochs=cfg["epochs"],
                      gen=gen, maximise=True, metric=VALIDATION_METRIC)
    if hasattr(net, "set_validation"):
        net.set_validation(None)  # the test samples use the setting chosen on validation
        card["guidance"] = float(net.net.guidance)
    sc, sn = tensors(test_rows)
    g = torch.Generator()
    g.manual_seed(derived_seed(seed, "sample"))
    t1 = time.perf_counter()
    syn_z = net.sample(sc, sn, g).cpu().numpy().astype(np.float64)
    card.update({"device": str(dev), **res.card,
                 "parameters": int(sum(p.numel() for m in net.modules.values() for p in m.parameters())),
                 "timings_s": {"fit": round(res.seconds, 3), "to_best_validation": round(res.seconds_to_best, 3),
                               "sample": round(time.perf_counter() - t1, 4)},
                 "covariates": enc.to_dict()})
    state.update({"modules": res.best_state, "covariates": enc.to_dict()})
    return syn_z, res.history.drop(columns=["seconds"])


def _fit_peer(Z, labels, train, val_rows, test_rows, exp, model, cfg, seed, trainer, score, card, state):
    """A peer: fitted on the training rows by its library, conditioned on the class label only."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(derived_seed(seed, "peer"))
    dev = trainer.torch_device() if MODELS[model].gpu else "cpu"
    peer = model_class(model)(cfg, seed, str(getattr(dev, "type", dev)))
    peer.fit(Z[train], labels[train])
    fit_s = time.perf_counter() - t0
    val_syn = peer.sample(labels[val_rows], np.random.default_rng(derived_seed(seed, "val")))
    t1 = time.perf_counter()
    syn_z = peer.sample(labels[test_rows], rng)
    card.update({"device": str(dev), "validation": {VALIDATION_METRIC: score(val_syn)},
                 "timings_s": {"fit": round(fit_s, 3), "to_best_validation": round(fit_s, 3),
                               "sample": round(time.perf_counter() - t1, 4)},
                 "conditioning": f"class label ({' x '.join(label_columns(exp['label']))}); "
                                 "numerical covariates not used", **peer.card()})
    curve = pd.DataFrame()
    loss = getattr(peer, "loss", None)
    if isinstance(loss, pd.DataFrame) and len(loss):
        curve = loss.groupby("Epoch").mean(numeric_only=True).reset_index().rename(columns={"Epoch": "epoch"})
        curve["epoch"] += 1
    state["peer"] = peer.state()
    return syn_z, curve, getattr(peer, "pickled", False)


# ------------------------------------------------------------------------------ validation grid choice
def choose_grid_point(cards: list[dict], metric: str = VALIDATION_METRIC) -> int:
    """Index of the grid point with the highest validation score (the first on ties). The cards
    carry validation scores only: nothing here, or in the training that wrote them, reads the
    test split's expression."""
    scores = [float(c["validation"][metric]) for c in cards]
    return int(np.argmax([v if np.isfinite(v) else -np.inf for v in scores]))


def grid_card(cards: list[dict], grid: list[dict], best: int) -> dict:
    """The chosen point's card, with the grid, every point's validation score and the choice."""
    card = dict(cards[best])
    card.update({"grid_point": best, "grid_choice": grid[best],
                 "grid": [{**p, f"validation_{VALIDATION_METRIC}": c["validation"][VALIDATION_METRIC]}
                          for p, c in zip(grid, cards)]})
    card["timings_s"] = dict(card["timings_s"], fit_all_points=round(sum(c["timings_s"]["fit"] for c in cards), 3))
    return card


# ------------------------------------------------------------------------------------------ release
def cv_budget(cards: list[dict]) -> dict:
    """What a refit takes from cross-validation (validation only): the epoch budget (median best
    epoch over folds and seeds, for loop-trained models) and, for diffusion, the guidance weight
    chosen most often (the smallest on ties)."""
    out = {}
    best = [c["best_epoch"] for c in cards if "best_epoch" in c]
    if best:
        out["epochs"] = max(1, int(np.median(best)))
    guidance = [c["guidance"] for c in cards if "guidance" in c]
    if guidance:
        values, counts = np.unique(guidance, return_counts=True)
        out["guidance"] = float(values[np.argmax(counts)])
    return out


def refit(X: np.ndarray, obs: pd.DataFrame, labels: np.ndarray, rows: np.ndarray, exp: dict, model: str, cfg: dict, *,
          seed: int, trainer, budget: dict) -> FoldResult:
    """Train `model` on `rows` (the cohort minus the privacy holdout) with the choices
    cross-validation made on validation data (`budget`: cv_budget): a loop-trained model for the
    median best epoch, its last epoch kept (a refit has no validation part to choose on); a peer
    by its own fit. Returns a FoldResult without samples (sampling is its own step)."""
    zs = ZScore.fit(X[rows])
    Z = zs.transform(X)
    state: dict = {"zscore": zs.to_dict()}
    card = {"model": model, "seed": seed, "settings": cfg, "n_train": int(len(rows)), "n_genes": int(X.shape[1]),
            "budget": budget}
    t0 = time.perf_counter()
    curve, pickled = pd.DataFrame(), False
    if MODELS[model].kind == "torch":
        import torch

        from gexflow.models.covariates import CovariateEncoder
        from gexflow.models.training import Batches

        dev = trainer.torch_device()
        gen = trainer.generator(seed)
        enc = CovariateEncoder(exp.get("categorical", []), exp.get("numerical", [])).fit(obs.iloc[rows])
        codes, nums = enc.transform(obs.iloc[rows])
        data = Batches(torch.as_tensor(Z[rows], dtype=torch.float32).to(dev), torch.as_tensor(codes).to(dev),
                       torch.as_tensor(nums).to(dev))
        net = model_class(model)(Z.shape[1], enc.vocab_sizes, len(enc.numerical), cfg, dev)
        if "guidance" in budget:
            net.net.guidance.fill_(budget["guidance"])  # the weight cross-validation chose on validation
        epochs = budget.get("epochs", cfg["epochs"])
        tc, tn = torch.as_tensor(codes), torch.as_tensor(nums)
        res = trainer.fit(net, data, lambda m, g: validation_score(Z[rows], labels[rows], m.sample(tc, tn, g)
                                                                   .cpu().numpy()),
                          epochs=epochs, gen=gen, maximise=True, metric="training_within_gamma")
        card.update({"device": str(dev), **res.card, "covariates": enc.to_dict(),
                     "selection": f"the last of {epochs} epochs (the median best epoch of cross-validation)"})
        state.update({"modules": res.best_state, "covariates": enc.to_dict()})
        curve = res.history.drop(columns=["seconds"])
    else:
        dev = trainer.torch_device() if MODELS[model].gpu else "cpu"
        peer = model_class(model)(cfg, seed, str(getattr(dev, "type", dev)))
        peer.fit(Z[rows], labels[rows])
        state["peer"], pickled = peer.state(), getattr(peer, "pickled", False)
        card.update({"device": str(dev), "selection": "the peer's own fit", **peer.card()})
    card["timings_s"] = {"fit": round(time.perf_counter() - t0, 3)}
    return FoldResult(np.zeros((0, X.shape[1])), obs.iloc[:0], card, curve, state, pickled)


def sample_model(model: str, state: dict, cfg: dict, obs: pd.DataFrame, labels: np.ndarray, seed: int) -> np.ndarray:
    """Profiles (log2(x+1)) drawn from a saved generator for the covariate rows `obs` (class
    `labels`), on the CPU, from `seed` alone: the same call gives the same samples."""
    zs = ZScore.from_dict(state["zscore"])
    if MODELS[model].kind == "torch":
        import torch

        from gexflow.models.covariates import CovariateEncoder

        enc = CovariateEncoder.from_dict(state["covariates"])
        net = model_class(model)(len(zs.mean), enc.vocab_sizes, len(enc.numerical), cfg, torch.device("cpu"))
        for k, m in net.modules.items():
            m.load_state_dict(state["modules"][k])
            m.eval()
        codes, nums = enc.transform(obs)
        g = torch.Generator()
        g.manual_seed(derived_seed(seed, "release"))
        syn_z = net.sample(torch.as_tensor(codes), torch.as_tensor(nums), g).cpu().numpy().astype(np.float64)
    else:
        peer = model_class(model).from_state(state["peer"])
        syn_z = peer.sample(np.asarray(labels).astype(str), np.random.default_rng(derived_seed(seed, "release")))
    if not np.all(np.isfinite(syn_z)):
        raise InputError("config", f"generate.settings.{model}", f"the released {model} produced non-finite samples",
                         "release another model (release.model) or lower its learning rate")
    return zs.inverse_transform(syn_z)
