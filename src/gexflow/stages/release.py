"""Stage release: rules refit_generator and sample_release (a generate experiment's synthetic
cohort), release_inference_model and release_embedding (the other model families, refitted on
every sample) and embed_samples (a user's new matrix embedded with the released network).
Reads inputs, calls `gexflow.release`, `gexflow.generation`, `gexflow.inference` and
`gexflow.embedding`, writes outputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gexflow.experiment import class_labels, derived_seed, label_columns, load_dataset, load_experiment
from gexflow.io import read_json, write_tsv

log = logging.getLogger("gexflow.stages.release")


def refit_generator(job) -> None:
    """Rule refit_generator: the model chosen on validation (or named), refitted on the cohort
    minus a privacy holdout: model.pt, release_card.json, model_choice.tsv, holdout.tsv,
    covariate_pool.tsv, genes.tsv, training_curve.tsv."""
    from gexflow import generation, release
    from gexflow.models.training import Trained, training_job

    p, name = job.params["job"], job.wildcards["experiment"]
    exp, spec = p["experiment"], p["release"]
    data, labels = load_experiment(job.input["h5ad"], job.input["genes"], exp)
    cards = [read_json(c) for c in job.input["cards"]]
    named = None if spec["model"] == "auto" else spec["model"]
    model, choice, why = release.choose_model(cards, p["models"], generation.VALIDATION_METRIC, named=named)
    budget = generation.cv_budget([c for c in cards if c["model"] == model])
    groups = data.obs[p["patient_column"]].astype(str).to_numpy() if p["patient_column"] else data.obs.index
    rows, holdout = release.holdout_split(labels, groups, spec["holdout_fraction"], derived_seed(p["seed"], "holdout"))
    columns = list(dict.fromkeys([*label_columns(exp["label"]), *exp.get("categorical", []),
                                  *exp.get("numerical", [])]))
    pool = data.obs.iloc[rows][columns].astype(str)
    if "library_size" in data.obs:
        pool["library_size"] = data.obs.iloc[rows]["library_size"].astype(str)
    pool.insert(0, "sample_id", data.obs.index[rows].astype(str))

    def train(trainer) -> Trained:
        r = generation.refit(data.X, data.obs, labels, rows, exp, model, p["settings"][model],
                             seed=derived_seed(p["seed"], name, model, "release"), trainer=trainer, budget=budget)
        r.card.update({"experiment_name": name, "experiment": exp, "dataset": exp["dataset"], "chosen_by": why,
                       "validation": choice.to_dict(orient="records"), "pickled": r.pickled,
                       "input_scale": p["input_scale"], "holdout_fraction": spec["holdout_fraction"],
                       "n_holdout": int(len(holdout)), "config_seed": p["seed"]})
        outputs = {"choice": choice, "pool": pool, "holdout": pd.DataFrame({"sample_id": data.obs.index[holdout]}),
                   "gene_table": pd.DataFrame({"gene_id": data.gene_ids, "symbol": data.var["symbol"].astype(str)})}
        return Trained(card=r.card, curve=r.curve, state=r.state, outputs=outputs, pickled=r.pickled)

    training_job(job, train, identity=(exp, spec, model, p["settings"][model], budget, p["seed"]), loop=p["loop"],
                 device=job.config["generate"]["device"], device_field="generate.device")
    log.info("%s: released %s (%s), refitted on %d samples, %d held out", name, model, why, len(rows), len(holdout))


def sample_release(job) -> None:
    """Rule sample_release: synthetic_cohort.h5ad and .tsv.gz (n profiles, or per-class counts, or
    the user's covariate rows) and release_report.tsv (the choice, its cross-validated test row,
    class counts, and the privacy audit against the holdout)."""
    from gexflow import release
    from gexflow.io import read_intermediate, write_h5ad

    p = job.params["job"]
    files = {k: job.input[k] for k in release.RELEASE_FILES}
    cohort = release.sample_cohort(files, n=p["n"], per_class=p["per_class"], rows_file=job.input.get("rows"),
                                   seed=p["seed"])
    card = read_json(files["card"])
    data, labels = load_experiment(job.input["h5ad"], job.input["genes"], card["experiment"])
    held = set(read_intermediate(job.input["holdout"], dtype=str)["sample_id"])
    is_held = data.obs.index.astype(str).isin(held)
    audit = release.privacy_audit(data.X[~is_held], data.X[is_held], np.asarray(cohort.X, dtype=np.float64),
                                  n_components=p["audit_components"])
    got = pd.Series(class_labels(cohort.obs, card["experiment"]["label"])).value_counts().sort_index()
    table = read_intermediate(job.input["table"], dtype=str, keep_default_na=False)
    test_row = table[table["model"] == card["model"]].iloc[0].to_dict() if (table["model"] == card["model"]).any() \
        else {}
    rows = [("choice", "model", card["model"]), ("choice", "chosen_by", card["chosen_by"]),
            *[("validation", r["model"], r[next(k for k in r if k.startswith("mean_validation"))])
              for r in card["validation"]],
            *[("cross-validated test (mean ± SD)", k, v) for k, v in test_row.items()
              if k not in ("model", "fit_seconds") and v],  # a timing is no test result (and varies by run)
            *[("class count", c, int(k)) for c, k in got.items()],
            ("refit", "samples", card["n_train"]), ("refit", "held out", card["n_holdout"]),
            ("refit", "selection", card["selection"])]
    for r in audit.to_dict(orient="records"):
        rows += [(f"privacy ({r['space']})", k, v) for k, v in r.items() if k != "space"]
    write_tsv(pd.DataFrame(rows, columns=["section", "item", "value"]), job.output["report"])
    write_h5ad(cohort, job.output["h5ad"])
    write_tsv(release.cohort_table(cohort), job.output["tsv"])
    flags = [f"{r['space']}: {r['flag']}" for r in audit.to_dict(orient="records") if r["flag"]]
    log.info("released %d profiles of %s; membership AUC %s%s", cohort.n_obs, card["model"],
             ", ".join(f"{r['space']} {r['membership_auc']:.3f}" for r in audit.to_dict(orient="records")),
             f"; FLAGGED: {'; '.join(flags)}" if flags else "")


def release_inference_model(job) -> None:
    """Rule release_inference_model: the landmark model chosen on validation (or named), refitted
    on every sample with the settings cross-validation chose: model.pt, model_card.json."""
    from gexflow import inference, release
    from gexflow.models.training import Trained, training_job

    p, name = job.params["job"], job.wildcards["experiment"]
    cards = [read_json(c) for c in job.input["cards"]]
    named = None if p["release"]["model"] == "auto" else p["release"]["model"]
    model, choice, why = release.choose_model(cards, p["models"], "mae", maximise=False, named=named)
    cfg, fixed = inference.cv_settings(model, p["settings"][model], [c for c in cards if c["model"] == model])
    data, _ = load_dataset(job.input["h5ad"])
    every = np.arange(len(data.X))
    ins, targets = inference.fold_genes(data.X, data.var, every, job.input["landmarks"], None, "landmarks",
                                        p["experiment"].get("max_targets"))

    def train(trainer) -> Trained:
        bundle, card, curve = inference.refit_regressor(model, cfg, data.X, ins, targets, data.var, trainer=trainer,
                                                        seed=derived_seed(p["seed"], name, model, "release"))
        card.update({"model": model, "experiment": name, "chosen_by": why, "fixed_from_cross_validation": fixed,
                     "validation": choice.to_dict(orient="records"), "settings": cfg, "n_train": int(len(every)),
                     "n_inputs": int(len(ins)), "n_targets": int(len(targets)), "config_seed": p["seed"],
                     "selection": "every sample; settings fixed by cross-validation, the last epoch kept"})
        return Trained(card=card, curve=curve, state=bundle)

    loop = {**p["loop"], "eval_every": cfg.get("epochs", 1), "patience": 0}  # one score, at the end
    training_job(job, train, identity=(p, model, cfg), loop=loop, device=job.config["infer"]["device"],
                 device_field="infer.device")
    log.info("%s: released %s (%s) on %d samples", name, model, why, len(every))


def release_embedding(job) -> None:
    """Rule release_embedding: one factorized embedding of every sample (the size chosen on
    validation, or named): model.pt, embedding.h5ad (X the expression, obsm X_fe the sample
    embeddings, varm gene_fe the gene embeddings), model_card.json, training_curve.tsv."""
    import anndata as ad

    from gexflow import embedding, release
    from gexflow.models.training import Trained, training_job

    p, name = job.params["job"], job.wildcards["experiment"]
    cards = [read_json(c) for c in job.input["cards"]]
    for c in cards:
        c["model"] = f"fe{c['settings']['sample_dim']}d"
    sizes = [f"fe{s}d" for s in p["sizes"]]
    named = None if p["release"]["size"] == "auto" else f"fe{p['release']['size']}d"
    chosen, choice, why = release.choose_model(cards, sizes, "mse", maximise=False, named=named)
    size = int(chosen[2:-1])
    data = load_dataset(job.input["h5ad"], {"genes": job.input["genes"]} if "genes" in job.input else None)[0]
    every = np.arange(len(data.X))

    def train(trainer) -> Trained:
        r = embedding.train_embedding(data.X, (every, every[:0], every[:0]), {**p["settings"], "sample_dim": size},
                                      seed=derived_seed(p["seed"], name, "release"), trainer=trainer)
        r["state"].update({"gene_ids": data.gene_ids.tolist(), "gene_symbols": data.symbols.tolist()})
        r["card"].update({"experiment": name, "chosen_by": why, "size": size, "config_seed": p["seed"],
                          "validation_by_size": choice.to_dict(orient="records")})
        obs = data.obs.astype({c: str for c in data.obs.columns if str(data.obs[c].dtype) in ("category", "object")})
        a = ad.AnnData(X=data.X.astype(np.float32), obs=obs, var=data.var.astype(str),
                       obsm={"X_fe": r["samples"].astype(np.float32)}, varm={"gene_fe": r["genes"].astype(np.float32)},
                       uns={"gexflow": {"experiment": name, "size": size, "scale": "log2(x+1)"}})
        return Trained(card=r["card"], curve=r["curve"], state=r["state"], outputs={"embedding": a})

    training_job(job, train, identity=(p, size), loop=p["loop"], device=job.config["embed"]["device"],
                 device_field="embed.device")
    log.info("%s: released the %d-D embedding of %d samples (%s)", name, size, len(every), why)
