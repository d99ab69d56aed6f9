"""Stage infer: landmark -> target expression inference (the L1000 idea). Called by the rule scripts.

Per experiment (dataset, landmark gene set, target cap) and fold of the shared split:
- genes: landmarks = the experiment's select set; candidate targets = every other gene, ranked
  by variance on the **training** rows and capped at `max_targets`; with learned landmarks, a
  group-lasso MLP over landmarks + candidates (fitted on training rows, checkpoint on validation)
  picks as many genes as there are landmarks, and the targets of both landmark sets are the
  candidates in neither set (the same targets for both);
- every model is fitted on per-gene z-scores of the training rows (inputs and targets
  standardised with training statistics only), alpha / k / the MLP checkpoint are chosen on the
  validation rows, and the test rows are predicted once, after fitting;
- predictions are written on log2(x + 1) and scored by `metrics.regression`, identically for
  every model.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.experiment import derived_seed
from gexflow.io import write_h5ad, write_json, write_tsv
from gexflow.models.registry import MODELS, trainable
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.infer")
LINEAR_FAMILY = ("linear", "ridge")


# ------------------------------------------------------------------------------------------- genes
def load_dataset(h5ad):
    """(X log2 samples x genes, obs, var) of a filtered dataset."""
    import anndata as ad

    a = ad.read_h5ad(h5ad)
    var = a.var.copy()
    if "symbol" not in var.columns:
        var["symbol"] = var.index.astype(str)
    return np.asarray(a.X, dtype=np.float64), a.obs.copy(), var


def gene_indices(var: pd.DataFrame, genes_tsv, what: str = "landmarks") -> np.ndarray:
    ids = pd.read_csv(genes_tsv, sep="\t", dtype=str)["gene_id"]
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


def target_genes(candidates: np.ndarray, learned: np.ndarray | None) -> np.ndarray:
    return candidates if learned is None else np.setdiff1d(candidates, learned)


# ------------------------------------------------------------------------------------------ models
def _zscore(X):
    from gexflow.filtering import ZScore

    return ZScore.fit(X)


def _weights(cfg: dict, Y_log2: np.ndarray):
    return Y_log2 + 1.0 if cfg.get("loss", "mse") == "weighted_mse" else None


def fit_model(model: str, cfg: dict, Xtr, Ytr, Xval, Yval, *, Ytr_log2=None, seed: int, device: str = "auto",
              loop: dict | None = None, checkpoint_dir=None, fingerprint: str = "") -> tuple[dict, dict, pd.DataFrame]:
    """Fit one regressor on z-scored training inputs/targets, choosing its setting on the
    validation rows. Returns (state for `predict_z`, card fields, training curve)."""
    from gexflow.models import regression as R

    if model not in trainable("infer"):
        raise InputError("config", "infer.models", f"unknown model '{model}'",
                         f"use one of: {', '.join(trainable('infer'))}")
    curve = pd.DataFrame()
    t0 = time.perf_counter()
    if model == "linear":
        coef, b, info = R.least_squares(Xtr, Ytr)
        state = {"kind": "affine", "coef": coef, "intercept": b}
        card = {"least_squares": info, "validation": {"mae": R.mae(Xval @ coef + b, Yval)}}
        if info["underdetermined"]:
            log.warning("least squares is under-determined (%d training samples, %d landmarks, rank %d): numpy "
                        "returns the minimum-norm interpolating solution", *Xtr.shape, info["rank"])
    elif model == "ridge":
        coef, b, alpha, path = R.ridge_on_validation(Xtr, Ytr, Xval, Yval, cfg["alphas"])
        state = {"kind": "affine", "coef": coef, "intercept": b}
        card = {"chosen": {"alpha": alpha}, "validation_path": path,
                "validation": {"mae": min(p["val_mae"] for p in path)}}
    elif model == "knn":
        knn = R.KNNRegressor(cfg["ks"]).fit(Xtr, Ytr, Xval, Yval)
        state = {"kind": "knn", "x": Xtr.astype(np.float32), "y": Ytr.astype(np.float32), "k": knn.k}
        card = {"chosen": {"k": knn.k}, "validation_path": knn.path,
                "validation": {"mae": R.mae(knn.predict(Xval), Yval)}}
    else:
        if model == "dgex_residual":
            cfg = {**cfg, "base": "ridge"}
        state, card, curve = _fit_mlp(cfg, Xtr, Ytr, Xval, Yval, Ytr_log2=Ytr_log2, seed=seed, device=device,
                                      loop=loop, checkpoint_dir=checkpoint_dir, fingerprint=fingerprint)
    card.setdefault("timings_s", {})["fit"] = round(time.perf_counter() - t0, 3)
    return state, card, curve


def _fit_mlp(cfg, Xtr, Ytr, Xval, Yval, *, Ytr_log2, seed, device, loop, checkpoint_dir, fingerprint):
    import torch

    from gexflow.models import regression as R
    from gexflow.models.training import LoopSettings, fit, seed_everything, select_device

    dev = select_device(device, field="infer.device")
    base, mode = None, cfg.get("base", "none")
    if mode in ("ridge", "ridge_blend"):  # ridge with alpha chosen on validation
        coef, b, alpha, _ = R.ridge_on_validation(Xtr, Ytr, Xval, Yval, cfg["alphas"])
        base = {"coef": coef, "intercept": b, "alpha": alpha, "weight": 1.0}
    residual = mode == "ridge"  # the MLP learns ridge's residual; ridge_blend: w * MLP + (1 - w) * ridge
    offset_tr = Xtr @ base["coef"] + base["intercept"] if residual else 0.0
    offset_val = Xval @ base["coef"] + base["intercept"] if residual else 0.0
    gen = seed_everything(seed)
    net = R.DGEXRegressor(Xtr.shape[1], Ytr.shape[1], cfg, dev)
    f32 = dict(dtype=torch.float32, device=dev)
    w = _weights(cfg, Ytr_log2) if Ytr_log2 is not None else None
    data = R.RegressionData(torch.as_tensor(Xtr, **f32), torch.as_tensor(Ytr - offset_tr, **f32),
                            None if w is None else torch.as_tensor(w, **f32))
    xval = torch.as_tensor(Xval, **f32)

    def validate(model, g):  # validation MAE on the z-scale: lower is better
        return R.mae(model.net(xval).cpu().numpy() + offset_val, Yval)

    res = fit(net, data, validate, maximise=False, metric_name="mae",
              settings=LoopSettings(epochs=cfg["epochs"], **(loop or {})), gen=gen,
              checkpoint_dir=checkpoint_dir, fingerprint=fingerprint)
    card = {"device": str(dev), **res.card, "parameters": int(sum(p.numel() for p in net.net.parameters())),
            "timings_s": {"to_best_validation": round(res.seconds_to_best, 3)}}
    if mode == "ridge_blend":  # blend weight of the MLP chosen on the validation split
        mlp_val = net.predict(Xval)
        ridge_val = Xval @ base["coef"] + base["intercept"]
        path = [{"weight": w, "val_mae": R.mae(w * mlp_val + (1 - w) * ridge_val, Yval)}
                for w in np.round(np.linspace(0, 1, 11), 2)]
        best = min(path, key=lambda p: p["val_mae"])
        base["weight"] = float(best["weight"])
        card["validation"] = {"mae": best["val_mae"], "mae_mlp_alone": res.best_score}
        card["blend_path"] = path
    if base:
        card["chosen"] = {"base_ridge_alpha": base["alpha"], **({"mlp_weight": base["weight"]}
                                                                 if mode == "ridge_blend" else {})}
    state = {"kind": "mlp", "cfg": cfg, "n_in": Xtr.shape[1], "n_out": Ytr.shape[1], "modules": res.best_state,
             "base": base, "mode": mode}
    return state, card, res.history.drop(columns=["seconds"])


def predict_z(state: dict, X: np.ndarray) -> np.ndarray:
    """Predicted target z-scores for landmark z-scores X, from a fitted model's state."""
    if state["kind"] == "affine":
        return X @ state["coef"] + state["intercept"]
    if state["kind"] == "knn":
        from gexflow.models.regression import KNNRegressor

        knn = KNNRegressor([state["k"]]).fit(state["x"].astype(np.float64), state["y"].astype(np.float64))
        return knn.predict(X)
    import torch

    from gexflow.models.regression import DGEXRegressor

    net = DGEXRegressor(state["n_in"], state["n_out"], state["cfg"], torch.device("cpu"))
    net.net.load_state_dict({k: v.cpu() for k, v in state["modules"]["net"].items()})
    out = net.predict(X)
    base = state.get("base")
    if base:
        ridge = X @ base["coef"] + base["intercept"]
        w = base["weight"]
        out = out + ridge if state.get("mode", "ridge") == "ridge" else w * out + (1 - w) * ridge
    return out


def predict_log2(bundle: dict, X_in_log2: np.ndarray) -> np.ndarray:
    """Targets on log2(x + 1) from landmark log2 values, with the training z-scores in `bundle`."""
    zi, zt = bundle["input_zscore"], bundle["target_zscore"]
    Z = (X_in_log2 - np.asarray(zi["mean"])) / np.asarray(zi["sd"])
    return predict_z(bundle["model"], Z) * np.asarray(zt["sd"]) + np.asarray(zt["mean"])


# ------------------------------------------------------------------------------- rule: learn genes
def learn_landmarks(X, train, val, pool: np.ndarray, k: int, cfg: dict, *, seed: int, device: str = "auto",
                    loop: dict | None = None, checkpoint_dir=None, fingerprint: str = ""):
    """Group-lasso MLP over the pool genes (inputs = outputs), fitted on training rows, checkpoint
    by validation MAE. Returns (top-k pool positions by first-layer column norm, norms, card, curve)."""
    import torch

    from gexflow.models import regression as R
    from gexflow.models.training import LoopSettings, fit, seed_everything, select_device

    zs = _zscore(X[train][:, pool])
    Ztr, Zval = zs.transform(X[train][:, pool]), zs.transform(X[val][:, pool])
    dev = select_device(device, field="infer.device")
    gen = seed_everything(seed)
    net = R.GroupLassoMLP(len(pool), len(pool), cfg, dev)
    f32 = dict(dtype=torch.float32, device=dev)
    w = _weights(cfg, X[train][:, pool])
    data = R.RegressionData(torch.as_tensor(Ztr, **f32), torch.as_tensor(Ztr, **f32),
                            None if w is None else torch.as_tensor(w, **f32))
    xval = torch.as_tensor(Zval, **f32)
    res = fit(net, data, lambda m, g: R.mae(m.net(xval).cpu().numpy(), Zval), maximise=False, metric_name="mae",
              settings=LoopSettings(epochs=cfg["epochs"], **(loop or {})), gen=gen, checkpoint_dir=checkpoint_dir,
              fingerprint=fingerprint)
    norms = net.column_norms()
    order = np.argsort(-norms, kind="stable")
    nonzero = int((norms > 0).sum())
    if nonzero < k:
        log.warning("only %d of %d genes have a non-zero first-layer group at the chosen checkpoint (k = %d): the "
                    "rest are taken in pool order; lower infer.learned.group_lasso", nonzero, len(pool), k)
    card = {"device": str(dev), **res.card, "nonzero_groups": nonzero, "pool_genes": int(len(pool)), "k": int(k),
            "timings_s": {"fit": round(res.seconds, 3), "to_best_validation": round(res.seconds_to_best, 3)}}
    return np.sort(order[:k]), norms, card, res.history.drop(columns=["seconds"])


def _learned_set_score(X, train, val, genes: np.ndarray, cands: np.ndarray, cfg: dict) -> float:
    """Validation MAE (z) of ridge (alpha on validation) from a candidate landmark set to the
    candidate targets outside it: how lambda is chosen. Training and validation rows only."""
    from gexflow.models.regression import ridge_on_validation

    t = np.setdiff1d(cands, genes)
    zi, zt = _zscore(X[train][:, genes]), _zscore(X[train][:, t])
    *_, path = ridge_on_validation(zi.transform(X[train][:, genes]), zt.transform(X[train][:, t]),
                                   zi.transform(X[val][:, genes]), zt.transform(X[val][:, t]),
                                   cfg.get("alphas", [1, 10, 100, 1000, 10000]))
    return float(min(p["val_mae"] for p in path))


def _fingerprint(*parts, code_files=()) -> str:
    return hashlib.sha256(repr((*parts, [Path(f).read_bytes() for f in code_files])).encode()).hexdigest()


def learn_landmarks_stage(inputs: dict, *, exp_name: str, exp: dict, cfg: dict, fold: int, seed: int, device: str,
                          loop: dict, outputs: dict, threads: int, code_files=()) -> None:
    """Rule learn_landmarks: genes.tsv (gene_id, symbol, source: usable as a select list),
    column_norms.tsv, model_card.json, training_curve.tsv."""
    import torch

    torch.set_num_threads(threads)
    X, obs, var = load_dataset(inputs["h5ad"])
    landmarks = gene_indices(var, inputs["landmarks"])
    train, val, _test = read_split(inputs["split"], obs.index, fold)
    cands = candidate_targets(X, train, landmarks, exp.get("max_targets"))
    pool = np.sort(np.concatenate([landmarks, cands]))
    k = int(cfg.get("k") or len(landmarks))
    out_dir = Path(outputs["card"]).parent
    lambdas = cfg["group_lasso"] if isinstance(cfg["group_lasso"], list) else [cfg["group_lasso"]]
    fits = []
    for i, lam in enumerate(lambdas):  # lambda chosen by the validation MAE of ridge on the learned genes
        c = {**cfg, "group_lasso": float(lam)}
        chosen, norms, card, curve = learn_landmarks(
            X, train, val, pool, k, c, seed=derived_seed(seed, exp_name, "learned", fold), device=device, loop=loop,
            checkpoint_dir=out_dir / "checkpoints" / f"lambda_{i}",
            fingerprint=_fingerprint(exp, c, fold, seed, loop, code_files=code_files))
        fits.append((chosen, norms, card, curve, _learned_set_score(X, train, val, pool[chosen], cands, cfg)))
        log.info("fold %d, lambda %g: %d non-zero groups, validation MAE of ridge from the learned genes %.4f",
                 fold, lam, card["nonzero_groups"], fits[-1][4])
    best = int(np.argmin([f[4] for f in fits]))
    chosen, norms, card, curve, _ = fits[best]
    card["lambda_path"] = [{"group_lasso": float(lam), "nonzero_groups": f[2]["nonzero_groups"],
                            "ridge_val_mae": f[4]} for lam, f in zip(lambdas, fits)]
    card["chosen"] = {"group_lasso": float(lambdas[best])}
    genes = pool[chosen]
    in_l1000 = np.isin(genes, landmarks)
    card.update({"experiment": exp_name, "fold": fold, "overlap_with_landmarks": int(in_l1000.sum()),
                 "landmarks": int(len(landmarks)), "config_seed": seed, "settings": cfg})
    ids = var.index.astype(str)
    write_tsv(pd.DataFrame({"gene_id": ids[genes], "symbol": var["symbol"].astype(str).to_numpy()[genes],
                            "source": "learned"}), outputs["genes"])
    write_tsv(pd.DataFrame({"gene_id": ids[pool], "symbol": var["symbol"].astype(str).to_numpy()[pool],
                            "column_norm": norms, "learned": np.isin(pool, genes),
                            "landmark": np.isin(pool, landmarks)}), outputs["norms"])
    write_tsv(curve, outputs["curve"])
    write_json(card, outputs["card"])
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log.info("fold %d: learned %d genes from a pool of %d (%d non-zero groups); %d are also landmarks",
             fold, k, len(pool), card["nonzero_groups"], card["overlap_with_landmarks"])


# ------------------------------------------------------------------------------------ rule: train
def plan_fold(X, obs, var, inputs: dict, exp: dict, lmset: str, fold: int):
    """(train, val, test, input genes, target genes) of one fold; gene choices read training rows only."""
    train, val, test = read_split(inputs["split"], obs.index, fold)
    landmarks = gene_indices(var, inputs["landmarks"])
    cands = candidate_targets(X, train, landmarks, exp.get("max_targets"))
    learned = gene_indices(var, inputs["learned"], "learned landmarks") if inputs.get("learned") else None
    targets = target_genes(cands, learned)
    if len(targets) == 0:
        raise InputError(inputs["landmarks"], "max_targets", "no target gene left",
                         "raise infer.experiments.*.max_targets")
    return train, val, test, (learned if lmset == "learned" else landmarks), targets


def train_inference_stage(inputs: dict, *, exp_name: str, exp: dict, lmset: str, model: str, cfg: dict, fold: int,
                          seed: int, device: str, loop: dict, outputs: dict, threads: int, code_files=()) -> None:
    """Rule train_inference_model: model.pt (model + training z-scores + gene ids), predictions.h5ad
    (the test rows, target genes, log2(x+1)), model_card.json, training_curve.tsv."""
    import anndata as ad
    import torch

    from gexflow.models.training import save_model

    torch.set_num_threads(threads)
    X, obs, var = load_dataset(inputs["h5ad"])
    train, val, test, ins, targets = plan_fold(X, obs, var, inputs, exp, lmset, fold)
    zi, zt = _zscore(X[train][:, ins]), _zscore(X[train][:, targets])
    out_dir = Path(outputs["card"]).parent
    state, card, curve = fit_model(
        model, cfg, zi.transform(X[train][:, ins]), zt.transform(X[train][:, targets]),
        zi.transform(X[val][:, ins]), zt.transform(X[val][:, targets]), Ytr_log2=X[train][:, targets],
        seed=derived_seed(seed, exp_name, lmset, model, fold), device=device, loop=loop,
        checkpoint_dir=out_dir / "checkpoints",
        fingerprint=_fingerprint(exp, lmset, model, cfg, fold, seed, loop, code_files=code_files))
    ids = var.index.astype(str)
    bundle = {"model": state, "inputs": ids[ins].tolist(), "targets": ids[targets].tolist(),
              "input_zscore": {"mean": zi.mean.tolist(), "sd": zi.sd.tolist()},
              "target_zscore": {"mean": zt.mean.tolist(), "sd": zt.sd.tolist()},
              "target_symbols": var["symbol"].astype(str).to_numpy()[targets].tolist(),
              "input_symbols": var["symbol"].astype(str).to_numpy()[ins].tolist()}
    t1 = time.perf_counter()
    pred = predict_log2(bundle, X[test][:, ins])  # the test rows, once, after fitting
    card["timings_s"]["predict"] = round(time.perf_counter() - t1, 4)
    card.update({"model": model, "landmark_set": lmset, "experiment": exp_name, "dataset": exp["dataset"],
                 "fold": fold, "seed": derived_seed(seed, exp_name, lmset, model, fold), "config_seed": seed,
                 "settings": cfg, "n_train": int(len(train)), "n_val": int(len(val)), "n_test": int(len(test)),
                 "n_inputs": int(len(ins)), "n_targets": int(len(targets)), "torch": torch.__version__,
                 "threads": threads})
    card.setdefault("device", "cpu")
    save_model(bundle, outputs["model"])
    obs_test = pd.DataFrame(index=obs.index[test].astype(str))
    write_h5ad(ad.AnnData(X=pred.astype(np.float32), obs=obs_test, var=var.iloc[targets][["symbol"]].copy()),
               outputs["predictions"])
    write_tsv(curve, outputs["curve"])
    write_json(card, outputs["card"])
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log.info("%s (%s) fold %d: %d inputs -> %d targets, validation MAE %.4f, fit %.1f s", model, lmset, fold,
             len(ins), len(targets), card["validation"]["mae"], card["timings_s"]["fit"])


# --------------------------------------------------------------------------------- rule: evaluate
def evaluate_inference_stage(inputs: dict, *, model: str, lmset: str, folds: list[int], outputs: dict) -> None:
    """Rule evaluate_inference: per_gene.tsv (every fold, every target gene) and metrics.tsv
    (per fold: means over genes). z-scores of the targets are refitted on each fold's training rows."""
    import anndata as ad

    from gexflow.metrics.regression import fold_summary, per_gene_metrics

    X, obs, var = load_dataset(inputs["h5ad"])
    pos = pd.Series(np.arange(len(var)), index=var.index.astype(str))
    rows, genes = [], []
    for fold, pfile in zip(folds, inputs["predictions"]):
        train, _val, test = read_split(inputs["split"], obs.index, fold)
        p = ad.read_h5ad(pfile)
        if list(p.obs_names) != list(obs.index[test].astype(str)):
            raise InputError(pfile, "obs", "predicted samples are not the test samples of this fold",
                             "rerun train_inference_model")
        t = pos[p.var_names.astype(str)].to_numpy()
        zs = _zscore(X[train][:, t])
        pred = np.asarray(p.X, dtype=np.float64)
        g = per_gene_metrics(zs.transform(X[test][:, t]), zs.transform(pred), X[test][:, t], pred, p.var_names)
        g.insert(0, "fold", fold)
        genes.append(g)
        rows.append({"model": model, "landmark_set": lmset, "fold": fold, **fold_summary(g)})
        log.info("%s (%s) fold %d: test MAE (z) %.4f, MAE (log2) %.4f, mean r %.3f over %d genes", model, lmset,
                 fold, rows[-1]["mae_z"], rows[-1]["mae_log2"], rows[-1]["pearson_r"], len(g))
    per_gene = pd.concat(genes, ignore_index=True)
    per_gene.insert(0, "landmark_set", lmset)
    per_gene.insert(0, "model", model)
    write_tsv(per_gene, outputs["per_gene"])
    write_tsv(pd.DataFrame(rows), outputs["metrics"])


# ---------------------------------------------------------------------------------- rule: compare
def comparison(per_gene: pd.DataFrame, cards: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long per-fold numbers, table of mean ± SD over folds). Shares and relative improvements
    are per fold against linear regression, ridge and the best linear model (of linear / ridge,
    the one with the lower mean validation MAE) on the same landmark set and targets."""
    from gexflow.metrics.regression import SUMMARY_METRICS, relative_improvement, share_better

    val = pd.DataFrame([{"model": c["model"], "landmark_set": c["landmark_set"], "fold": c["fold"],
                         "val_mae": c["validation"]["mae"], "fit_seconds": c["timings_s"]["fit"],
                         "chosen": ", ".join([f"{k} {v:g}" for k, v in c.get("chosen", {}).items()]
                                             + ([f"epoch {c['best_epoch']}"] if "best_epoch" in c else []))}
                        for c in cards])
    rows = []
    for (lmset, fold), g in per_gene.groupby(["landmark_set", "fold"], sort=False):
        mae = {m: d.set_index("gene_id")["mae_z"] for m, d in g.groupby("model", sort=False)}
        v = val[(val.landmark_set == lmset)].groupby("model")["val_mae"].mean()
        linear_models = [m for m in LINEAR_FAMILY if m in mae]
        best_linear = min(linear_models, key=lambda m: v.get(m, np.inf)) if linear_models else None
        for m, d in g.groupby("model", sort=False):
            row = {"model": m, "landmark_set": lmset, "fold": fold,
                   **{k: float(d[k].mean()) for k in SUMMARY_METRICS}, "n_genes": len(d)}
            for ref, name in (("linear", "linear"), ("ridge", "ridge"), (best_linear, "best_linear")):
                if ref is not None and ref in mae:
                    a, b = mae[m].align(mae[ref], join="inner")
                    row[f"share_better_than_{name}"] = share_better(a.to_numpy(), b.to_numpy())
                    row[f"improvement_over_{name}"] = relative_improvement(a.mean(), b.mean())
            row["best_linear"] = best_linear
            rows.append(row)
    long = pd.DataFrame(rows).merge(val, on=["model", "landmark_set", "fold"], how="left")
    cols = ["mae_z", "mse_z", "mae_log2", "pearson_r", "share_better_than_linear", "share_better_than_ridge",
            "improvement_over_linear", "improvement_over_best_linear", "val_mae", "fit_seconds"]
    table = []
    for (lmset, m), d in long.groupby(["landmark_set", "model"], sort=False):
        row = {"landmark_set": lmset, "model": m, "n_folds": len(d), "n_targets": int(d["n_genes"].iloc[0])}
        for c in cols:
            x = pd.to_numeric(d.get(c), errors="coerce") if c in d else pd.Series(dtype=float)
            if x.notna().any():
                sd = x.std(ddof=1) if x.notna().sum() > 1 else np.nan
                row[c] = f"{x.mean():.3f}" + (f" ± {sd:.3f}" if np.isfinite(sd) and c != "fit_seconds" else "")
            else:
                row[c] = ""
        row["chosen"] = "; ".join(str(s) for s in d["chosen"] if s)
        table.append(row)
    return long, pd.DataFrame(table)


def compare_inference_stage(inputs: dict, *, exp_name: str, models: list[str], lmsets: list[str],
                            outputs: dict) -> None:
    """Rule compare_inference: comparison.tsv, comparison_table.tsv, figures, and with learned
    landmarks their overlap with the landmark set."""
    import json

    from gexflow import plots

    per_gene = pd.concat([pd.read_csv(f, sep="\t", dtype={"gene_id": str}) for f in inputs["per_gene"]],
                         ignore_index=True)
    cards = [json.loads(Path(c).read_text()) for c in inputs["cards"]]
    long, table = comparison(per_gene, cards)
    write_tsv(long.drop(columns=["fit_seconds"]), outputs["long"])  # timings only in the table (a run record)
    write_tsv(table, outputs["table"])
    log.info("%s comparison (test MAE on the z-scale, mean ± SD over %d folds):\n%s", exp_name,
             long["fold"].nunique(), table.to_string(index=False))
    f0 = per_gene[per_gene.fold == per_gene.fold.min()]
    plots.inference_mae_scatter(f0, outputs["scatter"], title=f"{exp_name}, fold {f0.fold.min()}: per-gene test MAE")
    plots.inference_error_distribution(f0, outputs["errors"],
                                       title=f"{exp_name}, fold {f0.fold.min()}: per-gene test MAE (z-scale)")
    curves = {}
    for c, f in zip(cards, inputs["curves_cards"]):
        if c["fold"] == 0 and Path(f).stat().st_size > 1:
            curves[f"{c['model']} ({c['landmark_set']})"] = pd.read_csv(f, sep="\t")
    for f in inputs.get("learned_curves", []):
        curves["group lasso (learned)"] = pd.read_csv(f, sep="\t")
        break
    plots.training_curves_figure(curves, outputs["curves"],
                                 title=f"{exp_name}, fold 0: training curves (validation MAE selects the checkpoint)")
    overlap = []
    for fold, f in enumerate(inputs.get("learned", [])):
        learned = pd.read_csv(f, sep="\t", dtype=str)
        lm = pd.read_csv(inputs["landmarks"], sep="\t", dtype=str)
        shared = learned["gene_id"].isin(lm["gene_id"])
        overlap.append({"fold": fold, "learned": len(learned), "landmarks": len(lm), "shared": int(shared.sum()),
                        "shared_genes": ",".join(learned.loc[shared, "symbol"].astype(str))})
    overlap = pd.DataFrame(overlap, columns=["fold", "learned", "landmarks", "shared", "shared_genes"])
    write_tsv(overlap, outputs["overlap"])
    plots.landmark_overlap_figure(overlap, long, outputs["overlap_png"],
                                  title=f"{exp_name}: learned landmarks vs the landmark set")


# ---------------------------------------------------------------------------------- rule: predict
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
    cols = {c: c for c in M.columns}
    out, missing = np.empty((M.shape[0], len(inputs))), []
    for j, (g, s) in enumerate(zip(inputs, symbols)):
        c = cols.get(g) or cols.get(s)
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


def predict_targets_stage(model_file, *, spec: dict, outputs: dict) -> None:
    """Rule predict_targets: full profiles (landmarks as given + predicted targets, log2(x + 1))
    as .h5ad (samples x genes) and TSV (genes x samples), and a summary JSON."""
    import anndata as ad
    import torch

    bundle = torch.load(model_file, map_location="cpu", weights_only=False)
    M = read_landmark_matrix(spec["matrix"], spec["gene_id_column"], spec["scale"], spec.get("log_offset"))
    zi = bundle["input_zscore"]
    Xin, missing = align_landmarks(M, bundle["inputs"], bundle["input_symbols"], np.asarray(zi["mean"]),
                                   spec["missing_landmarks"], spec["matrix"])
    extra = len(set(M.columns) - set(bundle["inputs"]) - set(bundle["input_symbols"]))
    if extra:
        log.info("%s: %d genes are not landmarks of the model and are ignored", spec["matrix"], extra)
    pred = predict_log2(bundle, Xin)
    genes = bundle["inputs"] + bundle["targets"]
    full = np.hstack([Xin, pred])
    var = pd.DataFrame({"symbol": bundle["input_symbols"] + bundle["target_symbols"],
                        "measured": [g not in set(missing) and s not in set(missing)
                                     for g, s in zip(bundle["inputs"], bundle["input_symbols"])]
                        + [False] * len(bundle["targets"]),
                        "imputed_landmark": [s in set(missing) or g in set(missing)
                                             for g, s in zip(bundle["inputs"], bundle["input_symbols"])]
                        + [False] * len(bundle["targets"])},
                       index=pd.Index(genes, name=None))
    obs = pd.DataFrame(index=M.index.astype(str))
    write_h5ad(ad.AnnData(X=full.astype(np.float32), obs=obs, var=var), outputs["h5ad"])
    tsv = pd.DataFrame(full.T.round(4), index=pd.Index(genes, name="gene_id"), columns=M.index)
    tsv.insert(0, "symbol", var["symbol"].to_numpy())
    write_tsv(tsv.reset_index(), outputs["tsv"])
    write_json({"samples": int(M.shape[0]), "landmarks": len(bundle["inputs"]), "targets": len(bundle["targets"]),
                "missing_landmarks": len(missing), "imputed": missing if spec["missing_landmarks"] == "impute" else [],
                "policy": spec["missing_landmarks"], "scale_in": spec["scale"], "scale_out": "log2(x+1)"},
               outputs["summary"])
    log.info("predicted %d targets for %d samples from %d landmarks (%d imputed)", len(bundle["targets"]),
             M.shape[0], len(bundle["inputs"]), len(missing))


def registered(model: str) -> bool:
    return model in MODELS and MODELS[model].stage == "infer"
