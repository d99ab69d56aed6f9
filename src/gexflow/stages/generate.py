"""Stage generate: training one generator on one fold, scoring every model the same way, and the
comparison table and figures. Called by the rule scripts.

Scales: models train on z-scores fitted on the training split (the WGAN-GP paper's
standardisation); synthetic samples are mapped back to log2(x+1) before anything is written or
scored. Synthetic samples are generated for the test split's covariates, repeated
round(n_train / n_test) times so their count matches the real training split the real-vs-real
ceiling is computed from.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.experiment import class_labels, derived_seed, label_columns, load_experiment, replicate_factor
from gexflow.io import read_h5ad, write_h5ad, write_json, write_tsv
from gexflow.models.registry import CEILING, MODELS, trainable
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.generate")


# ------------------------------------------------------------------------------------------ training
def train_generator(X: np.ndarray, obs: pd.DataFrame, labels: np.ndarray, split, exp: dict, model: str,
                    cfg: dict, *, seed: int, device: str = "auto", loop: dict | None = None,
                    checkpoint_dir=None, fingerprint: str = "", on_epoch_end=None):
    """Fit `model` on the training rows only and sample for the test covariates. Returns
    (synthetic log2 matrix, synthetic obs, card dict, training curve, state to save).
    Test rows are read only for their covariates, after training."""
    import time

    import torch

    from gexflow.filtering import ZScore
    from gexflow.metrics.synthetic import gamma
    from gexflow.models.covariates import CovariateEncoder
    from gexflow.models.training import select_device

    if model not in MODELS or model not in trainable("generate"):
        raise InputError("config", "generate.models", f"unknown model '{model}'",
                         f"use one of: {', '.join(trainable('generate'))}")
    train, val, test = split
    zs = ZScore.fit(X[train])
    Z = zs.transform(X)
    r_test, r_val = replicate_factor(len(train), len(test)), replicate_factor(len(train), len(val))
    test_rows, val_rows = np.tile(test, r_test), np.tile(val, r_val)
    card = {"model": model, "seed": seed, "settings": cfg, "n_train": int(len(train)), "n_val": int(len(val)),
            "n_test": int(len(test)), "n_genes": int(X.shape[1]), "synthetic_per_test_sample": r_test}
    curve = pd.DataFrame()
    state: dict = {"zscore": {"mean": zs.mean.tolist(), "sd": zs.sd.tolist()}}
    t0 = time.perf_counter()
    if MODELS[model].kind == "torch":
        from gexflow.models.training import Batches, LoopSettings, fit, seed_everything

        dev = select_device(device)
        gen = seed_everything(seed)
        enc = CovariateEncoder(exp.get("categorical", []), exp.get("numerical", [])).fit(obs.iloc[train])

        def tensors(rows):
            codes, nums = enc.transform(obs.iloc[rows])
            return torch.as_tensor(codes), torch.as_tensor(nums)

        tc, tn = tensors(train)
        data = Batches(torch.as_tensor(Z[train], dtype=torch.float32).to(dev), tc.to(dev), tn.to(dev))
        vc, vn = tensors(val_rows)
        net = _build(model, X.shape[1], enc, cfg, dev)

        def validate(net, g):  # gamma of samples for the validation covariates: higher is better
            s = net.sample(vc, vn, g).cpu().numpy()
            return gamma(Z[val_rows], s) if np.all(np.isfinite(s)) else -np.inf

        res = fit(net, data, validate, maximise=True, metric_name="gamma",
                  settings=LoopSettings(epochs=cfg["epochs"], **(loop or {})), gen=gen,
                  checkpoint_dir=checkpoint_dir, fingerprint=fingerprint, on_epoch_end=on_epoch_end)
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
        curve = res.history.drop(columns=["seconds"])
        state.update({"modules": res.best_state, "covariates": enc.to_dict()})
    else:
        rng = np.random.default_rng(derived_seed(seed, "peer"))
        dev = select_device(device) if MODELS[model].gpu else torch.device("cpu")
        peer = _build_peer(model, cfg, seed, str(dev.type))
        peer.fit(Z[train], labels[train])
        fit_s = time.perf_counter() - t0
        val_syn = peer.sample(labels[val_rows], np.random.default_rng(derived_seed(seed, "val")))
        t1 = time.perf_counter()
        syn_z = peer.sample(labels[test_rows], rng)
        card.update({"device": str(dev), "validation": {"gamma": gamma(Z[val_rows], val_syn)},
                     "timings_s": {"fit": round(fit_s, 3), "to_best_validation": round(fit_s, 3),
                                   "sample": round(time.perf_counter() - t1, 4)},
                     "conditioning": f"class label ({' x '.join(label_columns(exp['label']))}); "
                                     "numerical covariates not used",
                     **peer.card()})
        loss = getattr(peer, "loss", None)
        if isinstance(loss, pd.DataFrame) and len(loss):
            curve = loss.groupby("Epoch").mean(numeric_only=True).reset_index().rename(columns={"Epoch": "epoch"})
            curve["epoch"] += 1
        state["peer"] = peer
    if not np.all(np.isfinite(syn_z)):
        raise RuntimeError(f"{model} produced non-finite samples; lower its learning rate")
    synthetic = zs.inverse_transform(syn_z)
    syn_obs = obs.iloc[test_rows].copy()
    syn_obs.insert(0, "source_sample", obs.index[test_rows].astype(str))
    syn_obs.index = [f"synthetic_{i}" for i in range(len(syn_obs))]
    return synthetic, syn_obs, card, curve, state


def _build(model: str, n_genes: int, enc, cfg: dict, dev):
    if model == "wgan_gp":
        from gexflow.models.wgan_gp import WGANGP

        return WGANGP(n_genes, enc.vocab_sizes, len(enc.numerical), cfg, dev)
    from gexflow.models.cvae import CVAE

    return CVAE(n_genes, enc.vocab_sizes, len(enc.numerical), cfg, dev)


def _build_peer(model: str, cfg: dict, seed: int, device: str):
    from gexflow.models import peers

    if model == "gaussian":
        return peers.ClassConditionalGaussian(min_class=cfg.get("min_class", 3))
    if model == "shuffled":
        return peers.ShuffledGenes()
    return peers.CtganPeer(model, {k: v for k, v in cfg.items()}, seed, device)


def train_generator_stage(inputs: dict, *, exp_name: str, exp: dict, model: str, cfg: dict, fold: int, seed: int,
                          device: str, loop: dict, outputs: dict, threads: int, code_files=()) -> None:
    """Rule train_generator: model.pt, synthetic.h5ad, model_card.json, training_curve.tsv."""
    import anndata as ad
    import torch

    from gexflow.models.training import save_model

    torch.set_num_threads(threads)
    X, var, obs, labels = load_experiment(inputs["h5ad"], inputs["genes"], exp)
    split = read_split(inputs["split"], obs.index, fold)
    out_dir = Path(outputs["card"]).parent
    fingerprint = hashlib.sha256(repr((exp, model, cfg, fold, seed, loop, [Path(f).read_bytes() for f in code_files]))
                                 .encode()).hexdigest()
    synthetic, syn_obs, card, curve, state = train_generator(
        X, obs, labels, split, exp, model, cfg, seed=derived_seed(seed, exp_name, model, fold), device=device,
        loop=loop, checkpoint_dir=out_dir / "checkpoints", fingerprint=fingerprint)
    card.update({"experiment": exp_name, "dataset": exp["dataset"], "genes": exp["genes"], "fold": fold,
                 "config_seed": seed, "torch": torch.__version__, "threads": threads})
    save_model(state, outputs["model"])  # byte-reproducible, unlike a plain torch.save
    syn_obs = syn_obs.astype({c: str for c in syn_obs.columns if str(syn_obs[c].dtype) in ("category", "object")})
    write_h5ad(ad.AnnData(X=synthetic.astype(np.float32), obs=syn_obs, var=var), outputs["synthetic"])
    write_tsv(curve, outputs["curve"])
    write_json(card, outputs["card"])
    # Checkpoints exist to resume a killed job; once the outputs are written they are spent (and a
    # forced rerun should retrain from scratch, which gives the same result).
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log.info("%s fold %d: validation gamma %.4f, fit %.1f s", model, fold, card["validation"]["gamma"],
             card["timings_s"]["fit"])


# ---------------------------------------------------------------------------------------- evaluation
def evaluate_stage(inputs: dict, *, exp: dict, model: str, folds: list[int], evaluation: dict, seed: int, out) -> None:
    """Rule evaluate_generator: every metric of metrics.score_synthetic per fold, one row each."""

    from gexflow.metrics.synthetic import score_synthetic

    X, var, obs, labels = load_experiment(inputs["h5ad"], inputs["genes"], exp)
    synthetic = list(inputs.get("synthetic", []))
    rows = []
    for i, fold in enumerate(folds):
        train, val, test = read_split(inputs["split"], obs.index, fold)
        if model == CEILING:
            syn, syn_obs = X[train], obs.iloc[train]
        else:
            a = read_h5ad(synthetic[i])
            syn, syn_obs = np.asarray(a.X, dtype=np.float64), a.obs
        contrast = exp.get("contrast")
        if contrast:
            col = contrast["column"]
            contrast = (obs.iloc[test][col].astype(str).to_numpy(), syn_obs[col].astype(str).to_numpy(),
                        contrast["groups"])
        m = score_synthetic(X[train], X[test], syn, test_classes=class_labels(obs.iloc[test], exp["label"]),
                            syn_classes=class_labels(syn_obs, exp["label"]), contrast=contrast, settings=evaluation,
                            seed=derived_seed(seed, "evaluate", fold), is_real=model == CEILING)
        rows.append({"model": model, "fold": fold, **m})
        log.info("%s fold %d: %s", model, fold, ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    write_tsv(pd.DataFrame(rows), out)


# ---------------------------------------------------------------------------------------- comparison
# Columns of the comparison table, in order, with the direction that is better.
TABLE_METRICS = {
    "gamma": "higher (ceiling: real train)", "gamma_vs_ceiling": "higher (1 = ceiling)", "s_dend": "higher",
    "mean_r": "higher", "sd_r": "higher", "wasserstein_mean": "lower", "correlation_mae": "lower",
    "auc_logistic": "0.5", "auc_random_forest": "0.5", "mmd": "lower", "tstr_balanced_accuracy": "higher",
    "deg_jaccard_top": "higher", "deg_log2fc_r": "higher", "nn_ratio": "about 1 (< 1: copies training samples)",
}


def summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Long table: model, metric, mean, sd, n_folds; gamma_vs_ceiling = gamma / the real ceiling's
    gamma on the same fold."""
    df = per_fold.copy()
    ceiling = df.loc[df["model"] == CEILING].set_index("fold")["gamma"]
    df["gamma_vs_ceiling"] = df["gamma"] / df["fold"].map(ceiling)
    long = df.melt(id_vars=["model", "fold"], var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    out = long.groupby(["model", "metric"], sort=False)["value"].agg(
        mean="mean", sd=lambda v: v.std(ddof=1) if v.notna().sum() > 1 else np.nan, n_folds="count").reset_index()
    return out


def comparison_table(summary: pd.DataFrame, models: list[str], fit_seconds: dict) -> pd.DataFrame:
    rows = []
    for m in [CEILING, *models]:
        s = summary[summary["model"] == m].set_index("metric")
        row = {"model": m}
        for metric in TABLE_METRICS:
            if metric in s.index and np.isfinite(s.at[metric, "mean"]):
                mean, sd = s.at[metric, "mean"], s.at[metric, "sd"]
                row[metric] = f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"
            else:
                row[metric] = ""
        row["fit_seconds"] = f"{np.mean(fit_seconds[m]):.1f}" if fit_seconds.get(m) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def compare_stage(inputs: dict, *, metrics: list, synthetic: list, curves: list, cards: list, exp_name: str, exp: dict,
                  models: list[str], note: str, evaluation: dict, outputs: dict) -> None:
    """Rule compare_generators: comparison.tsv (numbers), comparison_table.tsv (mean ± SD) and
    the figures, drawn from fold 0."""
    import json

    from gexflow import plots

    per_fold = pd.concat([pd.read_csv(f, sep="\t") for f in metrics], ignore_index=True)
    summary = summarise(per_fold)
    fit_seconds: dict[str, list] = {}
    for c in cards:
        card = json.loads(Path(c).read_text())
        fit_seconds.setdefault(card["model"], []).append(card["timings_s"]["fit"])
    table = comparison_table(summary, models, fit_seconds)
    direction = pd.DataFrame([{"model": "(better)", **TABLE_METRICS, "fit_seconds": "lower"}])
    write_tsv(summary, outputs["long"])
    write_tsv(pd.concat([table, direction], ignore_index=True), outputs["table"])
    log.info("%s comparison (mean ± SD over %d folds)%s:\n%s", exp_name, per_fold["fold"].nunique(),
             f" [{note}]" if note else "", table.to_string(index=False))

    X, var, obs, labels = load_experiment(inputs["h5ad"], inputs["genes"], exp)
    train, val, test = read_split(inputs["split"], obs.index, 0)
    syn = {m: np.asarray(read_h5ad(f).X, dtype=np.float64) for m, f in zip(models, synthetic)}
    symbols = var["symbol"].astype(str).where(var["symbol"].astype(str) != "", var.index.astype(str)).tolist() \
        if "symbol" in var.columns else var.index.astype(str).tolist()
    order = np.argsort(-X[train].var(axis=0), kind="stable")
    top = np.sort(order[:min(evaluation["figure_genes"], X.shape[1])])
    six = order[:min(6, X.shape[1])]
    suffix = f" — {note}" if note else ""
    ceiling = summary[(summary.model == CEILING) & (summary.metric == "gamma")]["mean"].iloc[0]
    plots.distance_matrix_figure(X[test][:, top], {m: s[:, top] for m, s in syn.items()}, [symbols[i] for i in top],
                                 outputs["distances"], title=f"{exp_name}, fold 0: {len(top)} most variable genes; "
                                 f"real-vs-real gamma ceiling {ceiling:.3f}{suffix}")
    plots.distribution_figure(X[test][:, six], {m: s[:, six] for m, s in syn.items()}, [symbols[i] for i in six],
                              outputs["distributions"], title=f"{exp_name}, fold 0: test samples vs synthetic{suffix}")
    plots.pca_overlay_figure(X[train], X[test], syn, outputs["pca"],
                             title=f"{exp_name}, fold 0: PCA of the real training split{suffix}")
    plots.training_curves_figure({m: pd.read_csv(c, sep="\t") if Path(c).stat().st_size > 1 else pd.DataFrame()
                                  for m, c in zip(models, curves)}, outputs["curves"],
                                 title=f"{exp_name}, fold 0: training curves (validation gamma selects the checkpoint)")
