"""The comparison tables of the three model stages, from the scores `metrics.synthetic`,
`metrics.regression` and `metrics.embedding` compute: per-fold numbers summarised as mean ± SD
over folds (one format everywhere), paired differences against a baseline with t intervals, and
the per-stage table layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gexflow.models.registry import CEILING


def mean_sd(mean, sd=np.nan) -> str:
    """'0.123 ± 0.004' ('0.123' without a finite SD; '' without a finite mean)."""
    if not np.isfinite(mean):
        return ""
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def sd_of(values) -> float:
    """Sample SD (ddof 1) of the finite values, NaN for fewer than two."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return float(v.std(ddof=1)) if len(v) > 1 else np.nan


# ------------------------------------------------------------------------------------------ generators
MIN_TEST_SAMPLES = 10  # fewer held-out samples per fold cannot rank generators

# Columns of the generator table, in order, with the direction that is better (the augmentation
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


def paired_differences(per_fold: pd.DataFrame, baseline: str, level: float = 0.95) -> pd.DataFrame:
    """Every model's every metric as a paired difference against `baseline` (model - baseline, on
    the same test fold and seed), with its t-based interval (metrics.synthetic.paired_interval)."""
    from gexflow.metrics.synthetic import paired_interval

    keys = [k for k in ("fold", "seed") if k in per_fold.columns]
    base = per_fold[per_fold["model"] == baseline].set_index(keys)
    if base.empty:
        return pd.DataFrame(columns=["model", "metric", "baseline", "diff", "ci_low", "ci_high", "n_pairs",
                                     "distinguishable"])
    metrics = [c for c in per_fold.columns if c not in ("model", *keys)
               and pd.api.types.is_numeric_dtype(per_fold[c])]
    rows = []
    for model, df in per_fold.groupby("model", sort=False):
        if model == baseline:
            continue
        df = df.set_index(keys)
        common = df.index.intersection(base.index)
        for metric in metrics:
            d = df.loc[common, metric].to_numpy(dtype=float) - base.loc[common, metric].to_numpy(dtype=float)
            rows.append({"model": model, "metric": metric, "baseline": baseline, **paired_interval(d, level=level)})
    return pd.DataFrame(rows)


def paired_text(row) -> str:
    """'+0.012 [-0.030, +0.054] not distinguishable' for the table."""
    if not np.isfinite(row["diff"]):
        return ""
    if not np.isfinite(row["ci_low"]):
        return f"{row['diff']:+.3f} (one pair: no interval)"
    verdict = "distinguishable" if row["distinguishable"] else "not distinguishable"
    return f"{row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] {verdict}"


def summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Long table: model, metric, mean, sd, n_folds; gamma_vs_ceiling = gamma / the real ceiling's
    gamma on the same fold (and the same for within-class gamma)."""
    df = per_fold.copy()
    ceiling = df.loc[df["model"] == CEILING].drop_duplicates("fold").set_index("fold")  # one row per fold
    df["gamma_vs_ceiling"] = df["gamma"] / df["fold"].map(ceiling["gamma"])
    if "within_gamma" in df.columns:
        df["within_gamma_vs_ceiling"] = df["within_gamma"] / df["fold"].map(ceiling["within_gamma"])
    ids = ["model", "fold", *(["seed"] if "seed" in df.columns else [])]
    long = df.melt(id_vars=ids, var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.groupby(["model", "metric"], sort=False)["value"].agg(
        mean="mean", sd=lambda v: v.std(ddof=1) if v.notna().sum() > 1 else np.nan, n_folds="count").reset_index()


def generator_table(summary: pd.DataFrame, models: list[str], fit_seconds: dict,
                    paired: pd.DataFrame | None = None, chosen: dict | None = None) -> pd.DataFrame:
    """One row per model: mean ± SD over folds of every metric, the paired difference against the
    baseline with its 95 % interval for PAIRED_COLUMNS, and the settings chosen on validation."""
    rows = []
    for m in [CEILING, *models]:
        s = summary[summary["model"] == m].set_index("metric")
        row = {"model": m}
        for metric in table_metrics(summary["metric"].unique()):
            row[metric] = mean_sd(s.at[metric, "mean"], s.at[metric, "sd"]) if metric in s.index else ""
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


def generator_choices(cards: list[dict]) -> tuple[dict, dict]:
    """(fit seconds per model, the settings each fold chose on validation per model) from the cards."""
    fit_seconds: dict[str, list] = {}
    chosen: dict[str, list] = {}
    for card in cards:
        fit_seconds.setdefault(card["model"], []).append(card["timings_s"]["fit"])
        pick = {k: card[k] for k in ("guidance",) if k in card}
        pick.update(card.get("grid_choice", {}))
        if pick:
            seed = f" seed {card['generator_seed']}" if card.get("generator_seed") is not None else ""
            chosen.setdefault(card["model"], []).append(
                f"fold {card['fold']}{seed}: " + ", ".join(f"{k}={v}" for k, v in sorted(pick.items())))
    return fit_seconds, {m: "; ".join(v) for m, v in chosen.items()}


def generator_direction_row(summary: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The '(better)' row under the table: which direction of each column is better."""
    return pd.DataFrame([{"model": "(better)", **table_metrics(summary["metric"].unique()),
                          **{c: "interval excludes 0" for c in table.columns if "(95% CI)" in c},
                          "fit_seconds": "lower"}])


# ------------------------------------------------------------------------------------------ inference
LINEAR_FAMILY = ("linear", "ridge")
INFERENCE_COLUMNS = ["mae_z", "mse_z", "mae_log2", "pearson_r", "share_better_than_linear", "share_better_than_ridge",
                     "improvement_over_linear", "improvement_over_best_linear", "val_mae", "fit_seconds"]


def inference_tables(per_gene: pd.DataFrame, cards: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long per-fold numbers, table of mean ± SD over folds) of the landmark models. Shares and
    relative improvements are per fold against linear regression, ridge and the best linear model
    (of linear / ridge, the one with the lower mean *validation* MAE) on the same landmark set and
    targets."""
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
    table = []
    for (lmset, m), d in long.groupby(["landmark_set", "model"], sort=False):
        row = {"landmark_set": lmset, "model": m, "n_folds": len(d), "n_targets": int(d["n_genes"].iloc[0])}
        for c in INFERENCE_COLUMNS:
            x = pd.to_numeric(d[c], errors="coerce") if c in d else pd.Series(dtype=float)
            row[c] = mean_sd(x.mean(), np.nan if c == "fit_seconds" else sd_of(x)) if x.notna().any() else ""
        row["chosen"] = "; ".join(str(s) for s in d["chosen"] if s)
        table.append(row)
    return long, pd.DataFrame(table)


# ------------------------------------------------------------------------------------------ embeddings
def classifier_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per label x fraction x size x classifier; columns FE (all unlabelled samples),
    FE on training samples, FE on held-out samples, then every baseline (mean ± SD over splits
    and folds)."""
    rows = []
    keys = ["label", "fraction", "size", "classifier"]
    for key, g in summary.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        g = g.groupby("method", sort=False).mean(numeric_only=True)
        for m in g.index:
            name = {"factorized": "FE"}.get(m, m)
            row[name] = mean_sd(g.at[m, "accuracy"], g.at[m, "accuracy_sd"])
            if m == "factorized":
                row["FE train samples"] = mean_sd(g.at[m, "acc_train"], g.at[m, "acc_train_sd"])
                row["FE held-out samples"] = mean_sd(g.at[m, "acc_held_out"], g.at[m, "acc_held_out_sd"])
        row["n_labelled"] = int(g["n_labelled"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def gene_neighbour_table(genes: pd.DataFrame) -> pd.DataFrame:
    """Gene-neighbour enrichment per size, method and reference, averaged over folds."""
    return genes.groupby(["size", "method", "reference"], sort=False).agg(
        k=("k", "first"), n_genes=("n_genes", "first"), observed=("observed", "mean"), expected=("expected", "mean"),
        ratio=("ratio", "mean"), p_value=("p_value", "max"), n_folds=("fold", "count")).reset_index()


def imputation_table(imp: pd.DataFrame) -> pd.DataFrame:
    """Imputation MAE per size and method, mean and SD over folds."""
    return imp.groupby(["size", "method"], sort=False).agg(mae=("mae", "mean"), mae_sd=("mae", "std"),
                                                           n_entries=("n_entries", "mean"),
                                                           n_folds=("fold", "count")).reset_index()
