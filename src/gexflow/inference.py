"""Landmark -> target expression inference (the L1000 idea: Subramanian et al. 2017; D-GEX: Chen
et al. 2016): which genes are inputs and targets in a fold, fitting every registered regressor on
z-scores of the training rows (its setting or checkpoint chosen on the validation rows), the
group-lasso MLP that learns a landmark set, the saved model bundle, and applying a bundle to a
user's landmark-only matrix.

Genes: landmarks = the experiment's select set; candidate targets = every other gene, ranked by
variance on the **training** rows and capped at `max_targets`; with learned landmarks, the targets
of both landmark sets are the candidates in neither set (the same targets for both). Inputs and
targets are standardised with training statistics only; the test rows are predicted once, after
fitting.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.experiment import read_gene_list
from gexflow.filtering import ZScore
from gexflow.models.registry import MODELS, model_class, trainable

log = logging.getLogger("gexflow.inference")


# ------------------------------------------------------------------------------------------- genes
def gene_indices(var: pd.DataFrame, genes_tsv, what: str = "landmarks") -> np.ndarray:
    """Column indices into the dataset of the genes a gene list names (all must be present)."""
    ids = read_gene_list(genes_tsv)
    pos = pd.Series(np.arange(len(var)), index=var.index.astype(str))
    missing = ids[~ids.isin(pos.index)]
    if len(missing):
        raise InputError(genes_tsv, "gene_id", f"{len(missing)} {what} are not genes of the dataset "
                         f"(e.g. {', '.join(missing[:5])})", "rerun select_genes on this dataset")
    if len(ids) == 0:
        raise InputError(genes_tsv, "gene_id", f"no {what} in the dataset", "choose another landmark gene set")
    return pos[ids].to_numpy()


def candidate_targets(X: np.ndarray, train: np.ndarray, landmarks: np.ndarray, max_targets: int | None) -> np.ndarray:
    """Non-landmark genes, the `max_targets` most variable on the training rows (all when None),
    in dataset order. Only training rows are read."""
    others = np.setdiff1d(np.arange(X.shape[1]), landmarks)
    if max_targets is not None and len(others) > max_targets:
        v = X[train][:, others].var(axis=0)
        others = np.sort(others[np.argsort(-v, kind="stable")[:max_targets]])
    return others


def fold_genes(X, var, train, landmarks_tsv, learned_tsv, lmset: str, max_targets) -> tuple[np.ndarray, np.ndarray]:
    """(input genes, target genes) of one fold and landmark set; reads training rows only."""
    landmarks = gene_indices(var, landmarks_tsv)
    candidates = candidate_targets(X, train, landmarks, max_targets)
    learned = gene_indices(var, learned_tsv, "learned landmarks") if learned_tsv else None
    targets = candidates if learned is None else np.setdiff1d(candidates, learned)
    if len(targets) == 0:
        raise InputError(landmarks_tsv, "max_targets", "no target gene left", "raise infer.experiments.*.max_targets")
    return (learned if lmset == "learned" else landmarks), targets


# ------------------------------------------------------------------------------------------ models
def fit_regressor(model: str, cfg: dict, Xtr, Ytr, Xval, Yval, *, Ytr_log2=None, seed: int,
                  trainer) -> tuple[dict, dict, pd.DataFrame]:
    """Fit one registered regressor on z-scored training inputs/targets, choosing its setting (or
    checkpoint) on the validation rows. Returns (state for `predict_z`, card fields, curve)."""
    import time

    if model not in trainable("infer"):
        raise InputError("config", "infer.models", f"unknown model '{model}'",
                         f"use one of: {', '.join(trainable('infer'))}")
    t0 = time.perf_counter()
    curve = pd.DataFrame()
    if MODELS[model].kind == "torch":
        state, card, curve = _fit_mlp(model, cfg, Xtr, Ytr, Xval, Yval, Ytr_log2=Ytr_log2, seed=seed, trainer=trainer)
    else:
        regressor = model_class(model)(cfg)
        card = regressor.fit(Xtr, Ytr, Xval, Yval)
        state = {"model": model, **regressor.state()}
    card.setdefault("timings_s", {})["fit"] = round(time.perf_counter() - t0, 3)
    return state, card, curve


def _fit_mlp(model, cfg, Xtr, Ytr, Xval, Yval, *, Ytr_log2, seed, trainer):
    """The D-GEX MLP, optionally on top of ridge (base: ridge learns the residual; ridge_blend:
    w * MLP + (1 - w) * ridge with w on validation), in the one training loop (validation MAE)."""
    import torch

    from gexflow.models import regression as R

    if model == "dgex_residual":
        cfg = {**cfg, "base": "ridge"}
    dev = trainer.torch_device()
    base, mode = None, cfg.get("base", "none")
    if mode in ("ridge", "ridge_blend"):  # ridge with alpha chosen on validation
        coef, b, alpha, _ = R.ridge_on_validation(Xtr, Ytr, Xval, Yval, cfg["alphas"])
        base = {"coef": coef, "intercept": b, "alpha": alpha, "weight": 1.0}
    residual = mode == "ridge"
    offset_tr = Xtr @ base["coef"] + base["intercept"] if residual else 0.0
    offset_val = Xval @ base["coef"] + base["intercept"] if residual else 0.0
    gen = trainer.generator(seed)
    net = model_class(model)(Xtr.shape[1], Ytr.shape[1], cfg, dev)
    f32 = dict(dtype=torch.float32, device=dev)
    w = Ytr_log2 + 1.0 if cfg.get("loss", "mse") == "weighted_mse" and Ytr_log2 is not None else None
    check_loss_weights(w)
    data = R.RegressionData(torch.as_tensor(Xtr, **f32), torch.as_tensor(Ytr - offset_tr, **f32),
                            None if w is None else torch.as_tensor(w, **f32))
    xval = torch.as_tensor(Xval, **f32)

    def validate(m, g):  # validation MAE on the z-scale: lower is better
        return R.mae(m.net(xval).cpu().numpy() + offset_val, Yval)

    res = trainer.fit(net, data, validate, epochs=cfg["epochs"], gen=gen, maximise=False, metric="mae")
    card = {"device": str(dev), **res.card, "parameters": int(sum(p.numel() for p in net.net.parameters())),
            "timings_s": {"to_best_validation": round(res.seconds_to_best, 3)}}
    if mode == "ridge_blend":  # blend weight of the MLP chosen on the validation split
        mlp_val, ridge_val = net.predict(Xval), Xval @ base["coef"] + base["intercept"]
        path = [{"weight": float(v), "val_mae": R.mae(v * mlp_val + (1 - v) * ridge_val, Yval)}
                for v in np.round(np.linspace(0, 1, 11), 2)]
        best = min(path, key=lambda p: p["val_mae"])
        base["weight"] = float(best["weight"])
        card["validation"] = {"mae": best["val_mae"], "mae_mlp_alone": res.best_score}
        card["blend_path"] = path
    if base:
        card["chosen"] = {"base_ridge_alpha": base["alpha"], **({"mlp_weight": base["weight"]}
                                                                 if mode == "ridge_blend" else {})}
    state = {"model": model, "cfg": cfg, "n_in": Xtr.shape[1], "n_out": Ytr.shape[1], "modules": res.best_state,
             "base": base, "mode": mode}
    return state, card, res.history.drop(columns=["seconds"])


def predict_z(state: dict, X: np.ndarray) -> np.ndarray:
    """Predicted target z-scores for landmark z-scores X, from a fitted model's state."""
    model = state["model"]
    if MODELS[model].kind != "torch":
        return model_class(model).from_state(state).predict(X)
    import torch

    net = model_class(model)(int(state["n_in"]), int(state["n_out"]), state["cfg"], torch.device("cpu"))
    net.net.load_state_dict({k: v.cpu() for k, v in state["modules"]["net"].items()})
    out = net.predict(X)
    base = state.get("base")
    if base:
        ridge = X @ np.asarray(base["coef"], dtype=np.float64) + np.asarray(base["intercept"], dtype=np.float64)
        w = float(base["weight"])
        out = out + ridge if state.get("mode", "ridge") == "ridge" else w * out + (1 - w) * ridge
    return out


def model_bundle(state: dict, var: pd.DataFrame, inputs: np.ndarray, targets: np.ndarray, zi: ZScore,
                 zt: ZScore) -> dict:
    """What model.pt holds: the fitted model, its input and target genes and their training z-scores."""
    ids, symbols = var.index.astype(str), var["symbol"].astype(str).to_numpy()
    return {"model": state, "inputs": ids[inputs].tolist(), "targets": ids[targets].tolist(),
            "input_zscore": zi.to_dict(), "target_zscore": zt.to_dict(),
            "input_symbols": symbols[inputs].tolist(), "target_symbols": symbols[targets].tolist()}


def predict_log2(bundle: dict, X_in_log2: np.ndarray) -> np.ndarray:
    """Targets on log2(x + 1) from landmark log2 values, with the training z-scores in `bundle`."""
    zi, zt = ZScore.from_dict(bundle["input_zscore"]), ZScore.from_dict(bundle["target_zscore"])
    return zt.inverse_transform(predict_z(bundle["model"], zi.transform(X_in_log2)))


# ------------------------------------------------------------------------------- learned landmarks
def learn_landmarks(X, train, val, pool: np.ndarray, k: int, cfg: dict, *, seed: int, trainer, tag=None):
    """Group-lasso MLP over the pool genes (inputs = outputs), fitted on training rows, checkpoint
    by validation MAE. Returns (top-k pool positions by first-layer column norm, norms, card, curve)."""
    import torch

    from gexflow.models import regression as R

    zs = ZScore.fit(X[train][:, pool])
    Ztr, Zval = zs.transform(X[train][:, pool]), zs.transform(X[val][:, pool])
    dev = trainer.torch_device()
    gen = trainer.generator(seed)
    net = R.GroupLassoMLP(len(pool), len(pool), cfg, dev)
    f32 = dict(dtype=torch.float32, device=dev)
    w = X[train][:, pool] + 1.0 if cfg.get("loss", "mse") == "weighted_mse" else None
    check_loss_weights(w)
    data = R.RegressionData(torch.as_tensor(Ztr, **f32), torch.as_tensor(Ztr, **f32),
                            None if w is None else torch.as_tensor(w, **f32))
    xval = torch.as_tensor(Zval, **f32)
    res = trainer.fit(net, data, lambda m, g: R.mae(m.net(xval).cpu().numpy(), Zval), epochs=cfg["epochs"], gen=gen,
                      maximise=False, metric="mae", tag=tag)
    norms = net.column_norms()
    order = np.argsort(-norms, kind="stable")
    nonzero = int((norms > 0).sum())
    if nonzero < k:
        log.warning("only %d of %d genes have a non-zero first-layer group at the chosen checkpoint (k = %d): the "
                    "rest are taken in pool order; lower infer.learned.group_lasso", nonzero, len(pool), k)
    card = {"device": str(dev), **res.card, "nonzero_groups": nonzero, "pool_genes": int(len(pool)), "k": int(k),
            "timings_s": {"fit": round(res.seconds, 3), "to_best_validation": round(res.seconds_to_best, 3)}}
    return np.sort(order[:k]), norms, card, res.history.drop(columns=["seconds"])


def ridge_score_of_set(X, train, val, genes: np.ndarray, candidates: np.ndarray, cfg: dict) -> float:
    """Validation MAE (z) of ridge (alpha on validation) from a candidate landmark set to the
    candidate targets outside it: how the group-lasso lambda is chosen. Training and validation rows only."""
    from gexflow.models.regression import ridge_on_validation

    t = np.setdiff1d(candidates, genes)
    zi, zt = ZScore.fit(X[train][:, genes]), ZScore.fit(X[train][:, t])
    *_, path = ridge_on_validation(zi.transform(X[train][:, genes]), zt.transform(X[train][:, t]),
                                   zi.transform(X[val][:, genes]), zt.transform(X[val][:, t]),
                                   cfg.get("alphas", [1, 10, 100, 1000, 10000]))
    return float(min(p["val_mae"] for p in path))


def learn_landmark_set(X, train, val, landmarks: np.ndarray, max_targets, cfg: dict, *, seed: int, trainer):
    """The learned landmark set of one fold: one group-lasso fit per lambda of `group_lasso`, the
    lambda whose top-k genes give ridge the lowest validation MAE on the candidate targets.
    Returns (pool gene indices, learned gene indices, column norms, card, curve)."""
    candidates = candidate_targets(X, train, landmarks, max_targets)
    pool = np.sort(np.concatenate([landmarks, candidates]))
    k = int(cfg.get("k") or len(landmarks))
    lambdas = cfg["group_lasso"] if isinstance(cfg["group_lasso"], list) else [cfg["group_lasso"]]
    fits = []
    for i, lam in enumerate(lambdas):
        chosen, norms, card, curve = learn_landmarks(X, train, val, pool, k, {**cfg, "group_lasso": float(lam)},
                                                     seed=seed, trainer=trainer, tag=f"lambda_{i}")
        fits.append((chosen, norms, card, curve, ridge_score_of_set(X, train, val, pool[chosen], candidates, cfg)))
        log.info("lambda %g: %d non-zero groups, validation MAE of ridge from the learned genes %.4f", lam,
                 card["nonzero_groups"], fits[-1][4])
    best = int(np.argmin([f[4] for f in fits]))
    chosen, norms, card, curve, _ = fits[best]
    card["lambda_path"] = [{"group_lasso": float(lam), "nonzero_groups": f[2]["nonzero_groups"],
                            "ridge_val_mae": f[4]} for lam, f in zip(lambdas, fits)]
    card["chosen"] = {"group_lasso": float(lambdas[best])}
    card["overlap_with_landmarks"] = int(np.isin(pool[chosen], landmarks).sum())
    return pool, pool[chosen], norms, card, curve


# ---------------------------------------------------------------------------------- applying a model
def read_landmark_matrix(path, id_column: str, scale: str, log_offset=None) -> pd.DataFrame:
    """A user's genes x samples TSV -> samples x genes on log2(x + 1)."""
    from gexflow.filtering import to_log2p1
    from gexflow.io import read_expression_table

    if scale == "counts":
        raise InputError(path, "scale", "counts cannot be normalised from landmarks alone (CPM needs every gene)",
                         "give values on log2p1, log2_offset or linear (e.g. TPM) scale")
    X, _ = read_expression_table(path, id_column)
    L = to_log2p1(X.to_numpy(), scale, log_offset=log_offset, file=path)
    return pd.DataFrame(L, index=X.index.astype(str), columns=X.columns.astype(str))


def align_landmarks(M: pd.DataFrame, inputs: list[str], symbols: list[str], means: np.ndarray, policy: str, path):
    """Input genes in model order (by gene id, else symbol). Missing ones: error naming them
    (policy fail) or the training mean (policy impute). Returns (matrix, missing ids)."""
    cols = set(M.columns)
    out, missing = np.empty((M.shape[0], len(inputs))), []
    for j, (g, s) in enumerate(zip(inputs, symbols)):
        c = g if g in cols else s if s in cols else None
        if c is None:
            missing.append(s if s else g)
            out[:, j] = means[j]
        else:
            out[:, j] = M[c].to_numpy()
    if missing and policy == "fail":
        raise InputError(path, "(gene rows)", f"{len(missing)} of the model's {len(inputs)} landmarks are missing: "
                         f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}",
                         "add those genes, or set missing_landmarks: impute (uses their training means)")
    if missing:
        log.warning("%s: %d of %d landmarks missing, imputed with their training means: %s", path, len(missing),
                    len(inputs), ", ".join(missing[:20]))
    return out, missing


def predict_profiles(bundle: dict, M: pd.DataFrame, policy: str, path) -> tuple[np.ndarray, pd.DataFrame, list]:
    """Full profiles (the landmarks as given, then the predicted targets; log2(x + 1)) of the
    samples of a landmark matrix. Returns (samples x genes, var with measured / imputed flags,
    the missing landmarks)."""
    Xin, missing = align_landmarks(M, bundle["inputs"], bundle["input_symbols"],
                                   np.asarray(bundle["input_zscore"]["mean"], dtype=np.float64), policy, path)
    extra = len(set(M.columns) - set(bundle["inputs"]) - set(bundle["input_symbols"]))
    if extra:
        log.info("%s: %d genes are not landmarks of the model and are ignored", path, extra)
    full = np.hstack([Xin, predict_log2(bundle, Xin)])
    gone = set(missing)
    imputed = [g in gone or s in gone for g, s in zip(bundle["inputs"], bundle["input_symbols"])]
    n_targets = len(bundle["targets"])
    var = pd.DataFrame({"symbol": bundle["input_symbols"] + bundle["target_symbols"],
                        "measured": [not i for i in imputed] + [False] * n_targets,
                        "imputed_landmark": imputed + [False] * n_targets},
                       index=pd.Index(bundle["inputs"] + bundle["targets"], name=None))
    return full, var, missing


# ------------------------------------------------------------------------------------------ release
def cv_settings(model: str, cfg: dict, cards: list[dict]) -> tuple[dict, dict]:
    """A regressor's settings for a refit on every sample, fixed from what cross-validation chose on
    validation: the alpha / k chosen most often (the smallest on ties), the median best epoch.
    Returns (settings, what was fixed)."""
    fixed = {}
    for key, grid in (("alpha", "alphas"), ("k", "ks"), ("base_ridge_alpha", "alphas")):
        chosen = [c["chosen"][key] for c in cards if key in c.get("chosen", {})]
        if chosen:
            values, counts = np.unique(chosen, return_counts=True)
            fixed[grid] = [type(chosen[0])(values[np.argmax(counts)])]
    best = [c["best_epoch"] for c in cards if "best_epoch" in c]
    if best:
        fixed["epochs"] = max(1, int(np.median(best)))
    return {**cfg, **fixed}, fixed


def refit_regressor(model: str, cfg: dict, X: np.ndarray, ins: np.ndarray, targets: np.ndarray, var: pd.DataFrame, *,
                    seed: int, trainer) -> tuple[dict, dict, pd.DataFrame]:
    """The released regressor: fitted on every sample with settings fixed by cross-validation
    (cv_settings), its last epoch kept (no validation part is left to choose on). Returns (model
    bundle for model.pt, card, curve)."""
    zi, zt = ZScore.fit(X[:, ins]), ZScore.fit(X[:, targets])
    Zi, Zt = zi.transform(X[:, ins]), zt.transform(X[:, targets])
    state, card, curve = fit_regressor(model, cfg, Zi, Zt, Zi, Zt, Ytr_log2=X[:, targets], seed=seed, trainer=trainer)
    card["validation"] = {"training_mae": card["validation"]["mae"]}  # fitted and scored on the same samples
    return model_bundle(state, var, ins, targets, zi, zt), card, curve


def check_loss_weights(w) -> None:
    """weighted_mse weighs by y + 1 with y on log2(x + 1) (>= 0); values below -1 (per-gene
    centred input, `scale: log2_centred`) would give negative weights: refused."""
    if w is not None and (np.asarray(w) < 0).any():
        raise InputError("config", "loss", "weighted_mse needs values on log2(x+1) (>= 0), but the dataset's "
                         "values go below -1 (a centred scale such as `scale: log2_centred`)",
                         "use `loss: mse` for this experiment's models")
