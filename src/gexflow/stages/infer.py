"""Stage infer: rules learn_landmarks, train_inference_model, evaluate_inference,
compare_inference and predict_targets. Reads inputs, calls `gexflow.inference`,
`gexflow.metrics` and `gexflow.plots`, writes outputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.experiment import derived_seed, load_dataset
from gexflow.io import write_tsv
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.infer")


def learn_landmarks(job) -> None:
    """Rule learn_landmarks: genes.tsv (gene_id, symbol, source: usable as a `list` gene set),
    column_norms.tsv, model_card.json, training_curve.tsv of one fold."""
    from gexflow import inference
    from gexflow.models.training import Trained, training_job

    p, name, fold = job.params["job"], job.wildcards["experiment"], int(job.wildcards["fold"])
    exp, cfg = p["experiment"], p["settings"]
    data, _ = load_dataset(job.input["h5ad"])
    landmarks = inference.gene_indices(data.var, job.input["landmarks"])
    train, val, _test = read_split(job.input["split"], data.obs.index, fold)

    def train_fn(trainer) -> Trained:
        pool, genes, norms, card, curve = inference.learn_landmark_set(
            data.X, train, val, landmarks, exp.get("max_targets"), cfg, trainer=trainer,
            seed=derived_seed(p["seed"], name, "learned", fold))
        card.update({"experiment": name, "fold": fold, "landmarks": int(len(landmarks)), "config_seed": p["seed"],
                     "settings": cfg})
        ids, symbols = data.gene_ids, data.var["symbol"].astype(str).to_numpy()
        gene_list = pd.DataFrame({"gene_id": ids[genes], "symbol": symbols[genes], "source": "learned"})
        norms_table = pd.DataFrame({"gene_id": ids[pool], "symbol": symbols[pool], "column_norm": norms,
                                    "learned": np.isin(pool, genes), "landmark": np.isin(pool, landmarks)})
        return Trained(card=card, curve=curve, outputs={"genes": gene_list, "norms": norms_table})

    r = training_job(job, train_fn, identity=(exp, cfg, fold, p["seed"], p["loop"]), loop=p["loop"],
                     device=job.config["infer"]["device"], device_field="infer.device")
    log.info("fold %d: learned %d genes (%d non-zero groups); %d are also landmarks", fold, r.card["k"],
             r.card["nonzero_groups"], r.card["overlap_with_landmarks"])


def train_inference_model(job) -> None:
    """Rule train_inference_model: model.pt (model + training z-scores + gene ids), predictions.h5ad
    (the test rows, target genes, log2(x+1)), model_card.json, training_curve.tsv."""
    import time

    import anndata as ad

    from gexflow import inference
    from gexflow.filtering import ZScore
    from gexflow.models.training import Trained, training_job

    p, w = job.params["job"], job.wildcards
    name, lmset, model, fold = w["experiment"], w["lmset"], w["model"], int(w["fold"])
    exp, cfg = p["experiment"], p["settings"]
    data, _ = load_dataset(job.input["h5ad"])
    X = data.X
    train, val, test = read_split(job.input["split"], data.obs.index, fold)
    ins, targets = inference.fold_genes(X, data.var, train, job.input["landmarks"], job.input.get("learned"), lmset,
                                        exp.get("max_targets"))
    zi, zt = ZScore.fit(X[train][:, ins]), ZScore.fit(X[train][:, targets])
    seed = derived_seed(p["seed"], name, lmset, model, fold)

    def train_fn(trainer) -> Trained:
        state, card, curve = inference.fit_regressor(
            model, cfg, zi.transform(X[train][:, ins]), zt.transform(X[train][:, targets]),
            zi.transform(X[val][:, ins]), zt.transform(X[val][:, targets]), Ytr_log2=X[train][:, targets],
            seed=seed, trainer=trainer)
        bundle = inference.model_bundle(state, data.var, ins, targets, zi, zt)
        t1 = time.perf_counter()
        pred = inference.predict_log2(bundle, X[test][:, ins])  # the test rows, once, after fitting
        card["timings_s"]["predict"] = round(time.perf_counter() - t1, 4)
        card.update({"model": model, "landmark_set": lmset, "experiment": name, "dataset": exp["dataset"],
                     "fold": fold, "seed": seed, "config_seed": p["seed"], "settings": cfg, "n_train": int(len(train)),
                     "n_val": int(len(val)), "n_test": int(len(test)), "n_inputs": int(len(ins)),
                     "n_targets": int(len(targets))})
        card.setdefault("device", "cpu")
        predictions = ad.AnnData(X=pred.astype(np.float32), obs=pd.DataFrame(index=data.obs.index[test].astype(str)),
                                 var=data.var.iloc[targets][["symbol"]].copy())
        return Trained(card=card, curve=curve, state=bundle, outputs={"predictions": predictions})

    r = training_job(job, train_fn, identity=(exp, lmset, model, cfg, fold, p["seed"], p.get("loop")),
                     loop=p.get("loop"), device=job.config["infer"]["device"], device_field="infer.device")
    log.info("%s (%s) fold %d: %d inputs -> %d targets, validation MAE %.4f, fit %.1f s", model, lmset, fold,
             len(ins), len(targets), r.card["validation"]["mae"], r.card["timings_s"]["fit"])


def evaluate_inference(job) -> None:
    """Rule evaluate_inference: per_gene.tsv (every fold, every target gene) and metrics.tsv (per
    fold: means over genes). Target z-scores are refitted on each fold's training rows."""
    from gexflow.errors import InputError
    from gexflow.filtering import ZScore
    from gexflow.io import read_h5ad
    from gexflow.metrics.regression import fold_summary, per_gene_metrics

    model, lmset = job.wildcards["model"], job.wildcards["lmset"]
    data, _ = load_dataset(job.input["h5ad"])
    X = data.X
    pos = pd.Series(np.arange(X.shape[1]), index=data.gene_ids)
    rows, genes = [], []
    for fold, pfile in zip(job.params["job"]["folds"], job.input["predictions"]):
        train, _val, test = read_split(job.input["split"], data.obs.index, fold)
        p = read_h5ad(pfile)
        if list(p.obs_names) != list(data.obs.index[test].astype(str)):
            raise InputError(pfile, "obs", "predicted samples are not the test samples of this fold",
                             "rebuild it: `snakemake --forcerun train_inference_model`")
        t = pos[p.var_names.astype(str)].to_numpy()
        zs = ZScore.fit(X[train][:, t])
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
    write_tsv(per_gene, job.output["per_gene"])
    write_tsv(pd.DataFrame(rows), job.output["metrics"])


def compare_inference(job) -> None:
    """Rule compare_inference: comparison.tsv, comparison_table.tsv, the figures and, with learned
    landmarks, their overlap with the landmark set."""
    from gexflow import plots
    from gexflow.experiment import read_gene_list
    from gexflow.io import read_intermediate, read_json
    from gexflow.metrics import tables

    name = job.wildcards["experiment"]
    per_gene = pd.concat([read_intermediate(f, dtype={"gene_id": str}) for f in job.input["per_gene"]],
                         ignore_index=True)
    cards = [read_json(c) for c in job.input["cards"]]
    long, table = tables.inference_tables(per_gene, cards)
    write_tsv(long.drop(columns=["fit_seconds"]), job.output["long"])  # timings only in the table (a run record)
    write_tsv(table, job.output["table"])
    log.info("%s comparison (test MAE on the z-scale, mean ± SD over %d folds):\n%s", name, long["fold"].nunique(),
             table.to_string(index=False))
    f0 = per_gene[per_gene.fold == per_gene.fold.min()]
    plots.inference_mae_scatter(f0, job.output["scatter"], title=f"{name}, fold {f0.fold.min()}: per-gene test MAE")
    plots.inference_error_distribution(f0, job.output["errors"],
                                       title=f"{name}, fold {f0.fold.min()}: per-gene test MAE (z-scale)")
    curves = {f"{c['model']} ({c['landmark_set']})": read_intermediate(f)
              for c, f in zip(cards, job.input["curves"]) if c["fold"] == 0 and Path(f).stat().st_size > 1}
    for f in job.input.get("learned_curves", [])[:1]:
        curves["group lasso (learned)"] = read_intermediate(f)
    plots.training_curves_figure(curves, job.output["curves"],
                                 title=f"{name}, fold 0: training curves (validation MAE selects the checkpoint)")
    landmarks = read_gene_list(job.input["landmarks"])
    overlap = []
    for fold, f in enumerate(job.input.get("learned", [])):
        learned = read_intermediate(f, dtype=str, keep_default_na=False)
        shared = learned["gene_id"].isin(landmarks)
        overlap.append({"fold": fold, "learned": len(learned), "landmarks": len(landmarks), "shared": int(shared.sum()),
                        "shared_genes": ",".join(learned.loc[shared, "symbol"].astype(str))})
    overlap = pd.DataFrame(overlap, columns=["fold", "learned", "landmarks", "shared", "shared_genes"])
    write_tsv(overlap, job.output["overlap"])
    plots.landmark_overlap_figure(overlap, long, job.output["overlap_png"],
                                  title=f"{name}: learned landmarks vs the landmark set")
