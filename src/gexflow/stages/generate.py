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

        def score(s):  # within-class gamma of samples for the validation covariates: higher is better
            return validation_score(Z[val_rows], labels[val_rows], s)

        if hasattr(net, "set_validation"):  # a model that tunes a sampling setting (diffusion: guidance) on it
            net.set_validation(score)

        def validate(net, g):
            return score(net.sample(vc, vn, g).cpu().numpy())

        res = fit(net, data, validate, maximise=True, metric_name=VALIDATION_METRIC,
                  settings=LoopSettings(epochs=cfg["epochs"], **(loop or {})), gen=gen,
                  checkpoint_dir=checkpoint_dir, fingerprint=fingerprint, on_epoch_end=on_epoch_end)
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
        card.update({"device": str(dev), "validation": {VALIDATION_METRIC: validation_score(Z[val_rows],
                                                                                        labels[val_rows], val_syn)},
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


def _build(model: str, n_genes: int, enc, cfg: dict, dev):
    if model == "diffusion":
        from gexflow.models.diffusion import Diffusion

        return Diffusion(n_genes, enc.vocab_sizes, len(enc.numerical), cfg, dev)
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
                          device: str, loop: dict, outputs: dict, threads: int, code_files=(),
                          generator_seed: int | None = None) -> None:
    """Rule train_generator (and train_grid_point): model.pt, synthetic.h5ad, model_card.json,
    training_curve.tsv. `generator_seed` (None for the first of `generate.seeds`) gives a repeat
    of the same model with other initial weights and noise."""
    import anndata as ad
    import torch

    from gexflow.models.training import save_model

    torch.set_num_threads(threads)
    X, var, obs, labels = load_experiment(inputs["h5ad"], inputs["genes"], exp)
    split = read_split(inputs["split"], obs.index, fold)
    out_dir = Path(outputs["card"]).parent
    fingerprint = hashlib.sha256(repr((exp, model, cfg, fold, seed, generator_seed, loop,
                                       [Path(f).read_bytes() for f in code_files])).encode()).hexdigest()
    run_seed = derived_seed(seed, exp_name, model, fold) if generator_seed is None \
        else derived_seed(seed, exp_name, model, fold, generator_seed)
    synthetic, syn_obs, card, curve, state = train_generator(
        X, obs, labels, split, exp, model, cfg, seed=run_seed, device=device,
        loop=loop, checkpoint_dir=out_dir / "checkpoints", fingerprint=fingerprint)
    card.update({"experiment": exp_name, "dataset": exp["dataset"], "genes": exp["genes"], "fold": fold,
                 "config_seed": seed, "generator_seed": generator_seed, "torch": torch.__version__, "threads": threads})
    save_model(state, outputs["model"])  # byte-reproducible, unlike a plain torch.save
    syn_obs = syn_obs.astype({c: str for c in syn_obs.columns if str(syn_obs[c].dtype) in ("category", "object")})
    write_h5ad(ad.AnnData(X=synthetic.astype(np.float32), obs=syn_obs, var=var), outputs["synthetic"])
    write_tsv(curve, outputs["curve"])
    write_json(card, outputs["card"])
    # Checkpoints exist to resume a killed job; once the outputs are written they are spent (and a
    # forced rerun should retrain from scratch, which gives the same result).
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log.info("%s fold %d: validation %s %.4f, fit %.1f s", model, fold, VALIDATION_METRIC,
             card["validation"][VALIDATION_METRIC], card["timings_s"]["fit"])


# ------------------------------------------------------------------------------ validation grid choice
def choose_grid_point(cards: list[dict], metric: str = VALIDATION_METRIC) -> int:
    """Index of the grid point with the highest validation score (the first on ties). The cards
    carry validation scores only: nothing here, or in the training that wrote them, reads the
    test split's expression."""
    scores = [float(c["validation"][metric]) for c in cards]
    finite = [v if np.isfinite(v) else -np.inf for v in scores]
    return int(np.argmax(finite))


def select_stage(inputs: dict, *, grid: list[dict], outputs: dict) -> None:
    """Rule select_generator: copy the chosen grid point's synthetic samples and curve; its card
    gains the grid, every point's validation score and the choice."""
    import json

    from gexflow.io import atomic_path, sidecar

    cards = [json.loads(Path(c).read_text()) for c in inputs["cards"]]
    best = choose_grid_point(cards)
    card = dict(cards[best])
    card.update({"grid_point": best, "grid_choice": grid[best],
                 "grid": [{**p, f"validation_{VALIDATION_METRIC}": c["validation"][VALIDATION_METRIC]}
                          for p, c in zip(grid, cards)]})
    card["timings_s"] = dict(card["timings_s"], fit_all_points=round(sum(c["timings_s"]["fit"] for c in cards), 3))
    for key, src in (("synthetic", inputs["synthetic"][best]), ("curve", inputs["curves"][best])):
        with atomic_path(outputs[key]) as tmp:
            shutil.copyfile(src, tmp)
        if sidecar(src).exists():  # the h5ad's sha256 record travels with it
            with atomic_path(sidecar(outputs[key])) as tmp:
                shutil.copyfile(sidecar(src), tmp)
    write_json(card, outputs["card"])
    log.info("grid point %d of %d chosen on validation %s: %s (%s)", best, len(grid), VALIDATION_METRIC, grid[best],
             ", ".join(f"{c['validation'][VALIDATION_METRIC]:.4f}" for c in cards))


# ---------------------------------------------------------------------------------------- evaluation
def evaluate_stage(inputs: dict, *, exp: dict, model: str, folds: list[int], evaluation: dict, seed: int, out,
                   runs: list[tuple[int, int]] | None = None) -> None:
    """Rule evaluate_generator: every metric of metrics.score_synthetic per (generator seed, fold),
    one row each; `runs` pairs the synthetic inputs with their (seed, fold), default seed 0 and `folds`."""

    from gexflow.metrics.synthetic import score_synthetic

    X, var, obs, labels = load_experiment(inputs["h5ad"], inputs["genes"], exp)
    synthetic = list(inputs.get("synthetic", []))
    runs = runs or [(0, f) for f in folds]
    rows = []
    for i, (gseed, fold) in enumerate(runs):
        train, val, test = read_split(inputs["split"], obs.index, fold)
        if len(test) < evaluation["detection_folds"]:
            raise InputError("config", "generate.evaluation.detection_folds",
                             f"{evaluation['detection_folds']} cross-validation folds for the {len(test)} test samples "
                             f"of fold {fold}", f"set it to at most {len(test)}, or use fewer split folds "
                             "(split.folds) so that test parts are larger")
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
                            seed=derived_seed(seed, "evaluate", fold), is_real=model == CEILING,
                            train_classes=class_labels(obs.iloc[train], exp["label"]))
        rows.append({"model": model, "fold": fold, "seed": gseed, **m})
        log.info("%s seed %s fold %d: %s", model, gseed, fold, ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    write_tsv(pd.DataFrame(rows), out)


# ---------------------------------------------------------------------------------------- comparison
MIN_TEST_SAMPLES = 10  # fewer held-out samples per fold cannot rank generators


def too_small_to_rank(summary: pd.DataFrame, n_test: int | None) -> str | None:
    """A warning when the test folds are too small for the table to rank models: few held-out
    samples, or the shuffled-genes control (no gene-gene structure) at the real ceiling's gamma."""
    reasons = []
    if n_test is not None and n_test < MIN_TEST_SAMPLES:
        reasons.append(f"only {n_test} test samples in a fold")
    shuffled = summary[(summary.model == "shuffled") & (summary.metric == "gamma_vs_ceiling")]["mean"]
    if len(shuffled) and np.isfinite(shuffled.iloc[0]) and shuffled.iloc[0] >= 0.95:
        reasons.append(f"the shuffled-genes control reaches {shuffled.iloc[0]:.2f} of the real ceiling's gamma")
    if not reasons:
        return None
    return f"test folds too small to rank models ({'; '.join(reasons)}): treat differences as noise"


# Columns of the comparison table, in order, with the direction that is better (the augmentation
# utility columns, one per subset size, follow TSTR; see table_metrics).
TABLE_METRICS = {
    "gamma": "higher (ceiling: real train)", "gamma_vs_ceiling": "higher (1 = ceiling)",
    "within_gamma": "higher (ceiling: real train; class means alone: about 0)",
    "within_gamma_vs_ceiling": "higher (1 = ceiling)", "s_dend": "higher",
    "mean_r": "higher", "sd_r": "higher", "wasserstein_mean": "lower", "correlation_mae": "lower",
    "auc_logistic": "0.5", "auc_random_forest": "0.5", "mmd": "lower", "tstr_balanced_accuracy": "higher",
    "precision": "higher (fidelity)", "recall": "higher (diversity)", "density": "about 1", "coverage": "higher",
    "deg_jaccard_top": "higher", "deg_log2fc_r": "higher", "nn_ratio": "about 1 (< 1: copies training samples)",
}
# Metrics whose paired difference against the baseline gets its own column in the table.
PAIRED_COLUMNS = ("within_gamma", "auc_random_forest", "precision", "recall", "density", "coverage")


def table_metrics(metrics) -> dict:
    """TABLE_METRICS with the utility_<n> columns present in `metrics` inserted after TSTR."""
    sizes = sorted(int(m.split("_")[1]) for m in metrics if m.startswith("utility_"))
    out = {}
    for k, v in TABLE_METRICS.items():
        out[k] = v
        if k == "tstr_balanced_accuracy":
            out.update({f"utility_{n}": f"higher (> 0: synthetic samples help {n} real ones)" for n in sizes})
    return out


def paired_differences(per_fold: pd.DataFrame, baseline: str, level: float = 0.95) -> pd.DataFrame:
    """Every model's every metric as a paired difference against `baseline` (model - baseline, on
    the same test fold and seed), with its t-based interval (metrics.synthetic.paired_interval)."""
    from gexflow.metrics.synthetic import paired_interval

    keys = [k for k in ("fold", "seed") if k in per_fold.columns]
    base = per_fold[per_fold["model"] == baseline].set_index(keys)
    rows = []
    if base.empty:
        return pd.DataFrame(columns=["model", "metric", "baseline", "diff", "ci_low", "ci_high", "n_pairs",
                                     "distinguishable"])
    metrics = [c for c in per_fold.columns if c not in ("model", *keys)
               and pd.api.types.is_numeric_dtype(per_fold[c])]
    for model, df in per_fold.groupby("model", sort=False):
        if model == baseline:
            continue
        df = df.set_index(keys)
        common = df.index.intersection(base.index)
        for metric in metrics:
            d = df.loc[common, metric].to_numpy(dtype=float) - base.loc[common, metric].to_numpy(dtype=float)
            rows.append({"model": model, "metric": metric, "baseline": baseline,
                         **paired_interval(d, level=level)})
    return pd.DataFrame(rows)


def paired_text(row) -> str:
    """'+0.012 [-0.030, 0.054] not distinguishable' for the table."""
    if not np.isfinite(row["diff"]):
        return ""
    if not np.isfinite(row["ci_low"]):
        return f"{row['diff']:+.3f} (one pair: no interval)"
    verdict = "distinguishable" if row["distinguishable"] else "not distinguishable"
    return f"{row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] {verdict}"


def summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Long table: model, metric, mean, sd, n_folds; gamma_vs_ceiling = gamma / the real ceiling's
    gamma on the same fold."""
    df = per_fold.copy()
    ceiling = df.loc[df["model"] == CEILING].set_index("fold")["gamma"]
    if "seed" in df.columns:  # the ceiling has one row per fold: pair it on the fold
        df = df.copy()
        ceiling = df.loc[df["model"] == CEILING].drop_duplicates("fold").set_index("fold")["gamma"]
    df["gamma_vs_ceiling"] = df["gamma"] / df["fold"].map(ceiling)
    if "within_gamma" in df.columns:
        within = df.loc[df["model"] == CEILING].drop_duplicates("fold").set_index("fold")["within_gamma"]
        df["within_gamma_vs_ceiling"] = df["within_gamma"] / df["fold"].map(within)
    ids = ["model", "fold", *(["seed"] if "seed" in df.columns else [])]
    long = df.melt(id_vars=ids, var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    out = long.groupby(["model", "metric"], sort=False)["value"].agg(
        mean="mean", sd=lambda v: v.std(ddof=1) if v.notna().sum() > 1 else np.nan, n_folds="count").reset_index()
    return out


def comparison_table(summary: pd.DataFrame, models: list[str], fit_seconds: dict,
                     paired: pd.DataFrame | None = None, chosen: dict | None = None) -> pd.DataFrame:
    """One row per model: mean ± SD over folds of every metric, the paired difference against the
    baseline with its 95 % interval for PAIRED_COLUMNS, and the settings chosen on validation."""
    rows = []
    for m in [CEILING, *models]:
        s = summary[summary["model"] == m].set_index("metric")
        row = {"model": m}
        for metric in table_metrics(summary["metric"].unique()):
            if metric in s.index and np.isfinite(s.at[metric, "mean"]):
                mean, sd = s.at[metric, "mean"], s.at[metric, "sd"]
                row[metric] = f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"
            else:
                row[metric] = ""
        if paired is not None and len(paired):
            base = paired["baseline"].iloc[0]
            for metric in PAIRED_COLUMNS:
                r = paired[(paired.model == m) & (paired.metric == metric)]
                row[f"{metric} vs {base} (95% CI)"] = "baseline" if m == base else \
                    (paired_text(r.iloc[0]) if len(r) else "")
        row["fit_seconds"] = f"{np.mean(fit_seconds[m]):.1f}" if fit_seconds.get(m) else ""
        if chosen is not None:
            row["chosen_on_validation"] = chosen.get(m, "")
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
    baseline = evaluation.get("baseline", "gaussian")
    paired = paired_differences(per_fold, baseline)
    fit_seconds: dict[str, list] = {}
    chosen: dict[str, list] = {}
    for c in cards:
        card = json.loads(Path(c).read_text())
        fit_seconds.setdefault(card["model"], []).append(card["timings_s"]["fit"])
        pick = {k: card[k] for k in ("guidance",) if k in card}
        pick.update(card.get("grid_choice", {}))
        if pick:
            seed = f" seed {card['generator_seed']}" if card.get("generator_seed") is not None else ""
            chosen.setdefault(card["model"], []).append(
                f"fold {card['fold']}{seed}: " + ", ".join(f"{k}={v}" for k, v in sorted(pick.items())))
    table = comparison_table(summary, models, fit_seconds, paired if baseline in models else None,
                             {m: "; ".join(v) for m, v in chosen.items()})
    direction = pd.DataFrame([{"model": "(better)", **table_metrics(summary["metric"].unique()),
                               **{c: "interval excludes 0" for c in table.columns if "(95% CI)" in c},
                               "fit_seconds": "lower"}])
    n_test = min(json.loads(Path(c).read_text())["n_test"] for c in cards) if cards else None
    warning = too_small_to_rank(summary, n_test)
    rows = [table, direction]
    if warning:
        log.warning("%s: %s", exp_name, warning)
        rows.append(pd.DataFrame([{"model": "(warning)", "gamma": warning}]))
        note = f"{note}; {warning}" if note else warning
    write_tsv(summary, outputs["long"])
    write_tsv(paired, outputs["paired"])
    write_tsv(pd.concat(rows, ignore_index=True), outputs["table"])
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
    classes = class_labels(obs, exp["label"])
    big = pd.Series(classes[test]).value_counts().index[0]  # the largest class of the test fold
    in_test, in_train = test[classes[test] == big], train[classes[train] == big]
    within_top = np.sort(np.argsort(-X[in_train].var(axis=0), kind="stable")[:min(evaluation["figure_genes"],
                                                                                  X.shape[1])])
    syn_in = {m: s[class_labels(read_h5ad(f).obs, exp["label"]) == big][:, within_top]
              for (m, s), f in zip(syn.items(), synthetic)}
    plots.distance_matrix_figure(X[in_test][:, within_top], syn_in, [symbols[i] for i in within_top],
                                 outputs["within_distances"],
                                 title=f"{exp_name}, fold 0, within class {big} ({len(in_test)} test samples): "
                                 f"{len(within_top)} most variable genes in the class; within-class gamma ceiling "
                                 f"{_mean(summary, CEILING, 'within_gamma'):.3f}{suffix}")
    sizes = sorted(int(m.split("_")[1]) for m in summary["metric"].unique() if m.startswith("utility_"))
    plots.prdc_utility_figure(summary, [CEILING, *models], sizes, outputs["prdc_utility"],
                              title=f"{exp_name}: PRDC (PCA of the real training split) and augmentation utility, "
                              f"mean over {per_fold['fold'].nunique()} folds{suffix}")
    plots.training_curves_figure({m: pd.read_csv(c, sep="\t") if Path(c).stat().st_size > 1 else pd.DataFrame()
                                  for m, c in zip(models, curves)}, outputs["curves"],
                                 title=f"{exp_name}, fold 0: training curves (validation within-class gamma selects "
                                 "the checkpoint)")


def _mean(summary: pd.DataFrame, model: str, metric: str) -> float:
    r = summary[(summary.model == model) & (summary.metric == metric)]["mean"]
    return float(r.iloc[0]) if len(r) else float("nan")
