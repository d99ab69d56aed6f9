"""Stage generate: rules train_generator (and train_grid_point), select_generator,
evaluate_generator and compare_generators. Reads inputs, calls `gexflow.generation`,
`gexflow.metrics.tables` and `gexflow.plots`, writes outputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.experiment import derived_seed, load_experiment
from gexflow.io import read_h5ad, read_intermediate, write_tsv
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.generate")


def _str_obs(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.astype({c: str for c in obs.columns if str(obs[c].dtype) in ("category", "object")})


def train_generator(job) -> None:
    """Rules train_generator and train_grid_point: model.pt, synthetic.h5ad, model_card.json,
    training_curve.tsv of one model, fold and generator seed. `generator_seed` (None for the first
    of `generate.seeds`) gives a repeat of the same model with other initial weights and noise."""
    import anndata as ad

    from gexflow import generation
    from gexflow.models.training import Trained, training_job

    p, w = job.params["job"], job.wildcards
    model, fold, exp, cfg = w["model"], int(w["fold"]), p["experiment"], p["settings"]
    data, labels = load_experiment(job.input["h5ad"], job.input["genes"], exp)
    split = read_split(job.input["split"], data.obs.index, fold)
    gseed = p.get("generator_seed")
    run_seed = derived_seed(p["seed"], w["experiment"], model, fold, *([] if gseed is None else [gseed]))

    def train(trainer) -> Trained:
        r = generation.train_on_fold(data.X, data.obs, labels, split, exp, model, cfg, seed=run_seed, trainer=trainer)
        r.card.update({"experiment": w["experiment"], "dataset": exp["dataset"], "genes": exp["genes"], "fold": fold,
                       "config_seed": p["seed"], "generator_seed": gseed})
        synthetic = ad.AnnData(X=r.synthetic.astype(np.float32), obs=_str_obs(r.obs), var=data.var)
        return Trained(card=r.card, curve=r.curve, state=r.state, outputs={"synthetic": synthetic}, pickled=r.pickled)

    result = training_job(job, train, identity=(exp, model, cfg, fold, p["seed"], gseed, p.get("loop")),
                          loop=p.get("loop"), device=job.config["generate"]["device"], device_field="generate.device")
    log.info("%s fold %d: validation %s %.4f, fit %.1f s", model, fold, generation.VALIDATION_METRIC,
             result.card["validation"][generation.VALIDATION_METRIC], result.card["timings_s"]["fit"])


def select_generator(job) -> None:
    """Rule select_generator: copy the chosen grid point's synthetic samples and curve (chosen on
    the validation score its card records); its card gains the grid, every point's score and the choice."""
    import shutil

    from gexflow import generation
    from gexflow.io import atomic_path, read_json, verify_sidecar, write_json, write_sidecar

    grid = job.params["job"]["grid"]
    cards = [read_json(c) for c in job.input["cards"]]
    best = generation.choose_grid_point(cards)
    for key, src in (("synthetic", job.input["synthetic"][best]), ("curve", job.input["curves"][best])):
        verify_sidecar(src)
        with atomic_path(job.output[key]) as tmp:
            shutil.copyfile(src, tmp)
        write_sidecar(job.output[key])
    write_json(generation.grid_card(cards, grid, best), job.output["card"])
    log.info("grid point %d of %d chosen on validation %s: %s (%s)", best, len(grid), generation.VALIDATION_METRIC,
             grid[best], ", ".join(f"{c['validation'][generation.VALIDATION_METRIC]:.4f}" for c in cards))


def evaluate_generator(job) -> None:
    """Rule evaluate_generator: every metric of one model (or the real ceiling) per (generator seed,
    fold), one row each; `runs` pairs the synthetic inputs with their (seed, fold)."""
    from gexflow.metrics.synthetic import score_fold
    from gexflow.models.registry import CEILING

    p, model = job.params["job"], job.wildcards["model"]
    exp = p["experiment"]
    data, _ = load_experiment(job.input["h5ad"], job.input["genes"], exp)
    synthetic = list(job.input.get("synthetic", []))
    rows = []
    for i, (gseed, fold) in enumerate(p["runs"]):
        split = read_split(job.input["split"], data.obs.index, fold)
        if model == CEILING:
            syn, syn_obs = data.X[split[0]], data.obs.iloc[split[0]]
        else:
            a = read_h5ad(synthetic[i])
            syn, syn_obs = np.asarray(a.X, dtype=np.float64), a.obs
        m = score_fold(data.X, data.obs, split, exp, model, syn, syn_obs, p["evaluation"], seed=p["seed"],
                                  fold=fold)
        rows.append({"model": model, "fold": fold, "seed": gseed, **m})
        log.info("%s seed %s fold %d: %s", model, gseed, fold, ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    write_tsv(pd.DataFrame(rows), job.output["metrics"])


def compare_generators(job) -> None:
    """Rule compare_generators: comparison.tsv (numbers), paired_differences.tsv, comparison_table.tsv
    (mean ± SD, paired intervals, the settings chosen on validation) and the figures (fold 0)."""
    from gexflow import plots
    from gexflow.experiment import class_labels
    from gexflow.io import read_json
    from gexflow.metrics import tables

    p, name = job.params["job"], job.wildcards["experiment"]
    exp, models, note = p["experiment"], list(p["models"]), p["note"]
    per_fold = pd.concat([read_intermediate(f) for f in job.input["metrics"]], ignore_index=True)
    summary = tables.summarise(per_fold)
    baseline = p["evaluation"]["baseline"]
    paired = tables.paired_differences(per_fold, baseline)
    cards = [read_json(c) for c in job.input["cards"]]
    fit_seconds, chosen = tables.generator_choices(cards)
    table = tables.generator_table(summary, models, fit_seconds, paired if baseline in models else None, chosen)
    rows = [table, tables.generator_direction_row(summary, table)]
    warning = tables.too_small_to_rank(summary, min(c["n_test"] for c in cards) if cards else None)
    if warning:
        log.warning("%s: %s", name, warning)
        rows.append(pd.DataFrame([{"model": "(warning)", "gamma": warning}]))
        note = f"{note}; {warning}" if note else warning
    write_tsv(summary, job.output["long"])
    write_tsv(paired, job.output["paired"])
    write_tsv(pd.concat(rows, ignore_index=True), job.output["table"])
    log.info("%s comparison (mean ± SD over %d folds)%s:\n%s", name, per_fold["fold"].nunique(),
             f" [{note}]" if note else "", table.to_string(index=False))

    data, labels = load_experiment(job.input["h5ad"], job.input["genes"], exp)
    fold0 = [read_h5ad(f) for f in job.input["synthetic"]]
    curves = {m: read_intermediate(c) if Path(c).stat().st_size > 1 else pd.DataFrame()  # peers: no curve
              for m, c in zip(models, job.input["curves"])}
    plots.generator_figures(data.X, read_split(job.input["split"], data.obs.index, 0), labels,
                            {m: np.asarray(a.X, dtype=np.float64) for m, a in zip(models, fold0)},
                            {m: class_labels(a.obs, exp["label"]) for m, a in zip(models, fold0)}, data.symbols,
                            summary, curves, job.output, exp_name=name, note=note,
                            figure_genes=p["evaluation"]["figure_genes"], n_folds=per_fold["fold"].nunique())
