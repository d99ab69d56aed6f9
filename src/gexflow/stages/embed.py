"""Stage embed: rules train_embedding, evaluate_embedding, report_embedding and impute_missing.
Reads inputs, calls `gexflow.embedding`, `gexflow.metrics.tables` and `gexflow.plots`, writes outputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gexflow.experiment import check_columns, derived_seed, experiment_labels, label_columns, load_dataset
from gexflow.io import read_h5ad, read_intermediate, write_tsv
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.embed")


def _data(job):
    return load_dataset(job.input["h5ad"], {"genes": job.input["genes"]} if "genes" in job.input else None)[0]


def _str_obs(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.astype({c: str for c in obs.columns if str(obs[c].dtype) in ("category", "object")})


def train_embedding(job) -> None:
    """Rule train_embedding: model.pt, embedding.h5ad (samples x dims, obs labels and roles; basis
    `fe` for scanpy), gene_embedding.h5ad (genes x dims), masked_entries.tsv.gz, model_card.json,
    training_curve.tsv of one experiment, size and fold."""
    import anndata as ad

    from gexflow import embedding
    from gexflow.models.training import Trained, training_job

    p, w = job.params["job"], job.wildcards
    name, size, fold, exp = w["experiment"], int(w["size"]), int(w["fold"]), p["experiment"]
    data = _data(job)
    check_columns(data.obs, [c for lab in experiment_labels(exp).values() for c in label_columns(lab)],
                  job.input["h5ad"], "embed label column")
    split = read_split(job.input["split"], data.obs.index, fold)
    cfg = {**p["settings"], "sample_dim": size}

    def train(trainer) -> Trained:
        r = embedding.train_embedding(data.X, split, cfg, seed=derived_seed(p["seed"], name, size, fold),
                                      trainer=trainer)
        r["card"].update({"experiment": name, "dataset": exp["dataset"], "genes": exp["genes"], "fold": fold,
                          "config_seed": p["seed"]})
        role = embedding.roles(len(data.X), split)
        s_obs = _str_obs(data.obs.copy())
        s_obs["split_role"] = role
        s_obs["embedded_by"] = np.where(role == "train", "training", "embed_new_samples")
        E = r["samples"].astype(np.float32)
        samples = ad.AnnData(X=E, obs=s_obs, var=pd.DataFrame(index=[f"fe_{i + 1}" for i in range(E.shape[1])]),
                             uns={"gexflow": {"experiment": name, "fold": fold, "size": size}}, obsm={"X_fe": E})
        g_obs = _str_obs(data.var.copy())
        g_obs.index = g_obs.index.astype(str)
        genes = ad.AnnData(X=r["genes"].astype(np.float32), obs=g_obs,
                           var=pd.DataFrame(index=[f"gene_fe_{i + 1}" for i in range(r["genes"].shape[1])]))
        entries = r["entries"]
        entries.insert(0, "sample_id", data.obs.index[entries["row"]].astype(str))
        entries.insert(1, "gene_id", data.gene_ids[entries["col"]])
        return Trained(card=r["card"], curve=r["curve"], state=r["state"],
                       outputs={"samples": samples, "genes": genes, "entries": entries})

    r = training_job(job, train, identity=(exp, size, cfg, fold, p["seed"], p["loop"]), loop=p["loop"],
                     device=job.config["embed"]["device"], device_field="embed.device")
    log.info("factorized %dd fold %d: validation MSE %.4f, fit %.1f s", size, fold, r.card["validation"]["mse"],
             r.card["timings_s"]["fit"])


def evaluate_embedding(job) -> None:
    """Rule evaluate_embedding: per fold, the classifier protocol for FE and every baseline, the
    gene-neighbour enrichment, and the imputation MAE."""
    from gexflow.errors import InputError
    from gexflow.metrics.embedding import score_fold, summarise_classifiers

    p, name, size = job.params["job"], job.wildcards["experiment"], int(job.wildcards["size"])
    data = _data(job)
    kegg = read_intermediate(job.input["kegg"], dtype=str)
    per_split, gene_rows, imp_rows, coords = [], [], [], []
    for i, fold in enumerate(p["folds"]):
        split = read_split(job.input["split"], data.obs.index, fold)
        s = read_h5ad(job.input["samples"][i])
        if list(s.obs_names) != list(data.obs.index.astype(str)):
            raise InputError(job.input["samples"][i], "obs_names", "samples differ from the dataset",
                             "rebuild it: `snakemake --forcerun train_embedding`")
        G = np.asarray(read_h5ad(job.input["genes_emb"][i]).X, dtype=np.float64)
        entries = read_intermediate(job.input["entries"][i])
        ps, gr, imp, co = score_fold(data.X, data.obs, data.var, split, s, G, entries, kegg,
                                                  p["experiment"], size, p["evaluation"], seed=p["seed"],
                                                  exp_name=name, fold=fold)
        per_split.append(ps)
        gene_rows += gr
        imp_rows.append(imp)
        coords += co if i == 0 else []
        log.info("%s %dd fold %d: imputation MAE %s", name, size, fold,
                 ", ".join(f"{m} {v:.4f}" for m, v in zip(imp["method"], imp["mae"])))
    per_split = pd.concat(per_split, ignore_index=True)
    per_split.insert(0, "size", size)
    summary = summarise_classifiers(per_split)
    summary.insert(0, "size", size)
    write_tsv(per_split, job.output["per_split"])
    write_tsv(summary, job.output["classifiers"])
    write_tsv(pd.DataFrame(gene_rows).assign(size=size), job.output["genes"])
    write_tsv(pd.concat(imp_rows, ignore_index=True).assign(size=size), job.output["imputation"])
    write_tsv(pd.concat(coords, ignore_index=True), job.output["coordinates"])
    log.info("%s %dd 1-NN accuracy:\n%s", name, size, summary[summary["classifier"] == "1nn"].to_string(index=False))


def report_embedding(job) -> None:
    """Rule report_embedding: the classifier table (as in the paper), gene-neighbour enrichment,
    imputation MAE, and the figures (drawn from fold 0 of the smallest size)."""
    from gexflow import plots, selection
    from gexflow.experiment import class_labels
    from gexflow.metrics import tables
    from gexflow.metrics.embedding import HELD_OUT

    p, name = job.params["job"], job.wildcards["experiment"]
    exp, sizes = p["experiment"], p["sizes"]
    summary = pd.concat([read_intermediate(f) for f in job.input["classifiers"]], ignore_index=True)
    table = tables.classifier_table(summary).astype({"size": "Int64", "n_labelled": "Int64"})
    notes = pd.DataFrame([{"label": "(how held-out samples are embedded)",
                           **{{"factorized": "FE"}.get(m, m): v for m, v in HELD_OUT.items()}}])
    write_tsv(pd.concat([table, notes], ignore_index=True), job.output["table"])
    genes = pd.concat([read_intermediate(f) for f in job.input["gene_tables"]], ignore_index=True)
    write_tsv(tables.gene_neighbour_table(genes), job.output["gene_table"])
    imp = pd.concat([read_intermediate(f) for f in job.input["imputation"]], ignore_index=True)
    write_tsv(tables.imputation_table(imp), job.output["imputation"])
    log.info("%s 1-NN table:\n%s", name, table[table["classifier"] == "1nn"].to_string(index=False))

    data = _data(job)
    first_label = next(iter(experiment_labels(exp).values()))
    labels = class_labels(data.obs, first_label)
    coords = read_intermediate(job.input["coordinates"][0])
    plots.embedding_panels_figure(coords, dict(zip(data.obs.index.astype(str), labels)), job.output["samples_fig"],
                                  title=f"{name}: {sizes[0]}-D embeddings of all samples, fold 0, coloured by "
                                  f"{' x '.join(label_columns(first_label))} (FE: held-out samples by "
                                  "embed_new_samples; t-SNE transductive)")
    symbols = data.var["symbol"].astype(str).to_numpy()
    found = [(m, int(np.flatnonzero(symbols == m)[0])) for m in p["markers"] if (symbols == m).any()]
    fe = coords[coords["method"] == "factorized"].set_index("sample_id").loc[data.obs.index.astype(str)]
    plots.marker_embedding_figure(fe[["dim1", "dim2"]].to_numpy(), {m: data.X[:, j] for m, j in found},
                                  job.output["markers_fig"], title=f"{name}: FE sample embedding ({sizes[0]}-D, "
                                  "fold 0) coloured by marker-gene expression (log2)"
                                  + ("" if found else " — no marker gene in the data"))
    G = np.asarray(read_h5ad(job.input["genes_emb"][0]).X, dtype=np.float64)
    kegg = read_intermediate(job.input["kegg"], dtype=str)
    groups = {}
    for pid in p["pathways"]:
        members = kegg[kegg["pathway_id"] == pid]
        if len(members):
            hit = selection.map_to_dataset(members, data.var).dropna()
            groups[f"{pid} {members['pathway_name'].iloc[0]}"] = np.flatnonzero(data.var.index.isin(hit.to_numpy()))
    plots.gene_embedding_figure(G, groups, job.output["genes_fig"], title=f"{name}: FE gene embedding (first two of "
                                f"{G.shape[1]} dims, PCA if more), fold 0, KEGG pathways highlighted")


def impute_missing(job) -> None:
    """Rule impute_missing: the dataset's real missing values (genes the filter dropped for them,
    `missing_values: drop_genes`) imputed by a factorized embedding trained on every sample's
    observed entries. Writes every entry of those genes, log2(x+1), with an `imputed` flag, and a card."""
    from gexflow import embedding
    from gexflow.filtering import missing_value_genes
    from gexflow.io import write_json
    from gexflow.models.training import Trainer

    p, name = job.params["job"], job.wildcards["experiment"]
    exp, ds, size = p["experiment"], p["dataset"], int(p["size"])
    data = _data(job)
    samples = data.obs.index.astype(str)
    gaps = missing_value_genes(job.input["expression"], samples, set(data.symbols) | set(data.gene_ids),
                               ds["scale"], ds.get("log_offset"))
    card = {"experiment": name, "dataset": exp["dataset"], "n_genes_with_missing": int(gaps.shape[1]),
            "n_missing_values": int(gaps.isna().to_numpy().sum()), "size": size, "seed": p["seed"]}
    out = pd.DataFrame(columns=["sample_id", "gene_id", "log2p1", "imputed"])
    if gaps.shape[1]:
        import torch

        torch.set_num_threads(job.threads)
        G = gaps.to_numpy(dtype=np.float64)
        filled, fit_card = embedding.impute_real_missing(
            data.X, G, {**p["settings"], "sample_dim": size}, seed=derived_seed(p["seed"], name, "impute_missing"),
            trainer=Trainer(loop=p["loop"], device=job.config["embed"]["device"], device_field="embed.device"))
        flag = np.isnan(G)
        out = pd.DataFrame({"sample_id": np.repeat(samples, G.shape[1]), "gene_id": np.tile(gaps.columns, len(G)),
                            "log2p1": filled.reshape(-1), "imputed": flag.reshape(-1)})
        for c in ("cohort", "condition"):
            if c in data.obs.columns:
                out.insert(2, c, np.repeat(data.obs[c].astype(str).to_numpy(), G.shape[1]))
        card.update({"validation_mse": fit_card["validation"]["mse"], "epochs_run": fit_card["epochs_run"],
                     "masked_entry_mae": fit_card["imputation_mae_masked_test_entries"],
                     "imputed_per_gene": {g: int(n) for g, n in zip(gaps.columns, flag.sum(0)) if n},
                     "samples_with_missing": int(flag.any(1).sum())})
        log.info("%s: imputed %d missing values in %d genes of %d samples (held-out entry MAE %.3f)", name,
                 flag.sum(), G.shape[1], flag.any(1).sum(), card["masked_entry_mae"])
    write_tsv(out, job.output["values"])
    write_json(card, job.output["card"])
