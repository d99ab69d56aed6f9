"""Stage embed: factorized gene and sample embeddings (paper 003) on the shared split, their
evaluation against PCA, NMF, t-SNE, UMAP and the raw data, and the report tables and figures.
Called by the rule scripts.

Protocol. The model trains on the training samples only, on all their observed (sample, gene)
entries but a random `mask_fraction`: half of the masked entries are the validation entries
(reconstruction MSE, the checkpoint choice), the other half the imputation test entries (MAE,
reported once, against KNNImputer and per-gene means fitted with the same entries hidden).
Validation and test samples are then embedded by `embed_new_samples` (network and gene
embeddings frozen), never trained on. PCA, NMF and UMAP are fitted on the training samples and
transform the others; t-SNE cannot, so its embedding is transductive (all samples at once).
The classifier protocol draws its small labelled sets from all samples of the dataset, as the
paper does, and reports accuracy on all unlabelled samples and separately on the training and
the held-out ones.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.errors import InputError
from gexflow.experiment import check_columns, class_labels, derived_seed, label_columns, load_genes
from gexflow.io import write_h5ad, write_json, write_tsv
from gexflow.splits import read_split

log = logging.getLogger("gexflow.stages.embed")
ROLE_NAMES = ("train", "val", "test")
# How each method places the samples the classifiers are tested on (the report prints it).
HELD_OUT = {"factorized": "held-out samples by embed_new_samples (frozen network)",
            "pca": "fitted on training samples, others transformed", "nmf": "fitted on training samples, others "
            "transformed", "umap": "fitted on training samples, others transformed",
            "tsne": "transductive: all samples embedded together", "raw": "no fitting"}


def load_data(h5ad, genes_tsv=None):
    """(X log2 samples x genes, obs, var): all filtered genes, or one select set's genes."""
    import anndata as ad

    if genes_tsv:
        X, obs, _, var = load_genes(h5ad, {"genes": genes_tsv})
        return X, obs, var
    a = ad.read_h5ad(h5ad)
    return np.asarray(a.X, dtype=np.float64), a.obs.copy(), a.var.copy()


def _write_table(df: pd.DataFrame, dest) -> None:
    """write_tsv, but a .gz is written byte-reproducibly (no timestamp or file name in the header)."""
    if not str(dest).endswith(".gz"):
        write_tsv(df, dest)
        return
    import gzip

    from gexflow.io import atomic_path

    with atomic_path(dest) as tmp:
        tmp.write_bytes(gzip.compress(df.to_csv(sep="\t", index=False).encode(), mtime=0))


def experiment_labels(exp: dict) -> dict:
    """name -> class column(s) scored by the classifier protocol (default: the split label)."""
    if exp.get("labels"):
        return dict(exp["labels"])
    return {"_x_".join(label_columns(exp["label"])): exp["label"]}


def _scale(X: np.ndarray, train: np.ndarray, how: str):
    """Per-gene centre (and SD for zscore) of the training samples' observed entries."""
    mean = np.nanmean(X[train], axis=0)
    sd = np.nanstd(X[train], axis=0) if how == "zscore" else np.ones(X.shape[1])
    return mean, np.where(sd > 1e-8, sd, 1.0)


# ------------------------------------------------------------------------------------------ training
def train_embedding(X: np.ndarray, split, cfg: dict, *, seed: int, device: str = "auto", loop: dict | None = None,
                    checkpoint_dir=None, fingerprint: str = "") -> dict:
    """Train on the training rows, embed the others; returns sample and gene embeddings, the
    masked entries with their predictions (log2 scale), the card, the curve and the state."""
    import time

    import torch

    from gexflow.models.embedding import FactorizedEmbedding, PairData, mask_entries
    from gexflow.models.training import LoopSettings, fit, seed_everything, select_device

    train, val, test = (np.asarray(s) for s in split)
    held = np.sort(np.concatenate([val, test]))
    n_genes = X.shape[1]
    mean, sd = _scale(X, train, cfg.get("scale", "zscore"))
    Z = (X - mean) / sd
    Zt = Z[train]
    observed = np.isfinite(Zt)
    rng = np.random.default_rng(derived_seed(seed, "mask"))
    masked = mask_entries(observed, cfg["mask_fraction"], rng)
    order = rng.permutation(len(masked))
    val_entries = np.sort(masked[order[: max(1, len(masked) // 2)]])
    test_entries = np.sort(masked[order[max(1, len(masked) // 2):]])
    trainable = observed.copy().reshape(-1)
    trainable[masked] = False
    trainable = trainable.reshape(observed.shape)

    dev = select_device(device, field="embed.device")
    gen = seed_everything(seed)
    model = FactorizedEmbedding(len(train), n_genes, cfg, dev)
    data = PairData(Zt, trainable, batch_size=cfg["batch_size"], device=dev)
    vr, vc = np.divmod(val_entries, n_genes)
    truth_v = Zt[vr, vc]

    def validate(m, g):  # reconstruction MSE of the held-out validation entries (z-scores): lower is better
        p = m.predict(vr, vc)
        return float(np.mean((p - truth_v) ** 2)) if np.all(np.isfinite(p)) else np.inf

    res = fit(model, data, validate, maximise=False, metric_name="mse", gen=gen,
              settings=LoopSettings(epochs=cfg["epochs"], **(loop or {})), checkpoint_dir=checkpoint_dir,
              fingerprint=fingerprint)
    E = np.zeros((len(X), cfg["sample_dim"]))
    E[train] = model.sample_embeddings()
    g2 = torch.Generator()
    g2.manual_seed(derived_seed(seed, "embed_new_samples"))
    t1 = time.perf_counter()
    if len(held):
        E[held] = model.embed_new_samples(Z[held], epochs=cfg["new_sample_epochs"], lr=cfg["new_sample_lr"],
                                          batch_size=cfg["batch_size"], gen=g2)
    embed_s = time.perf_counter() - t1
    # every masked entry (validation and imputation test roles), predicted on the log2 scale
    rows, cols = np.divmod(masked, n_genes)
    pred = model.predict(rows, cols).astype(np.float64) * sd[cols] + mean[cols]
    role = np.where(np.isin(masked, test_entries), "test", "val")
    entries = pd.DataFrame({"row": train[rows], "col": cols, "role": role, "value": X[train][rows, cols],
                            "factorized": pred})
    test_mae = float(np.mean(np.abs(entries.loc[entries.role == "test", "factorized"]
                                    - entries.loc[entries.role == "test", "value"])))
    card = {"model": "factorized", "seed": seed, "settings": cfg, "device": str(dev), "n_train": int(len(train)),
            "n_val": int(len(val)), "n_test": int(len(test)), "n_genes": int(n_genes),
            "n_trained_entries": int(trainable.sum()), "n_masked_entries": int(len(masked)), **res.card,
            "imputation_mae_masked_test_entries": test_mae,
            "parameters": int(sum(p.numel() for p in model.net.parameters())),
            "timings_s": {"fit": round(res.seconds, 3), "to_best_validation": round(res.seconds_to_best, 3),
                          "embed_new_samples": round(embed_s, 3)}}
    state = {"modules": res.best_state, "scale": {"mean": mean.tolist(), "sd": sd.tolist()},
             "new_sample_embeddings": E[held], "held_out_rows": held.tolist()}
    return {"samples": E, "genes": model.gene_embeddings(), "entries": entries, "card": card,
            "curve": res.history.drop(columns=["seconds"]), "state": state}


def _roles(n: int, split) -> np.ndarray:
    role = np.empty(n, dtype=object)
    for r, idx in zip(ROLE_NAMES, split):
        role[idx] = r
    return role


def _str_obs(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.astype({c: str for c in obs.columns if str(obs[c].dtype) in ("category", "object")})


def train_embedding_stage(inputs: dict, *, exp_name: str, exp: dict, size: int, cfg: dict, fold: int, seed: int,
                          device: str, loop: dict, outputs: dict, threads: int, code_files=()) -> None:
    """Rule train_embedding: model.pt, embedding.h5ad (samples x dims, obs labels and roles),
    gene_embedding.h5ad (genes x dims), masked_entries.tsv.gz, model_card.json, training_curve.tsv."""
    import anndata as ad
    import torch

    from gexflow.models.training import save_model

    torch.set_num_threads(threads)
    X, obs, var = load_data(inputs["h5ad"], inputs.get("genes_tsv"))
    check_columns(obs, [c for lab in experiment_labels(exp).values() for c in label_columns(lab)], inputs["h5ad"],
                  "embed label column")
    split = read_split(inputs["split"], obs.index, fold)
    cfg = {**cfg, "sample_dim": int(size)}
    out_dir = Path(outputs["card"]).parent
    fingerprint = hashlib.sha256(repr((exp, size, cfg, fold, seed, loop, [Path(f).read_bytes() for f in code_files]))
                                 .encode()).hexdigest()
    r = train_embedding(X, split, cfg, seed=derived_seed(seed, exp_name, size, fold), device=device, loop=loop,
                        checkpoint_dir=out_dir / "checkpoints", fingerprint=fingerprint)
    r["card"].update({"experiment": exp_name, "dataset": exp["dataset"], "genes": exp["genes"], "fold": fold,
                      "config_seed": seed, "torch": torch.__version__, "threads": threads})
    save_model(r["state"], outputs["model"])
    role = _roles(len(X), split)
    s_obs = _str_obs(obs.copy())
    s_obs["split_role"] = role
    s_obs["embedded_by"] = np.where(role == "train", "training", "embed_new_samples")
    s_var = pd.DataFrame(index=[f"fe_{i + 1}" for i in range(r["samples"].shape[1])])
    uns = {"gexflow": {"experiment": exp_name, "fold": fold, "size": int(size)}}
    write_h5ad(ad.AnnData(X=r["samples"].astype(np.float32), obs=s_obs, var=s_var, uns=uns,
                          obsm={"X_fe": r["samples"].astype(np.float32)}), outputs["samples"])  # basis "fe"
    g_obs = _str_obs(var.copy())
    g_obs.index = g_obs.index.astype(str)
    g_var = pd.DataFrame(index=[f"gene_fe_{i + 1}" for i in range(r["genes"].shape[1])])
    write_h5ad(ad.AnnData(X=r["genes"].astype(np.float32), obs=g_obs, var=g_var), outputs["genes"])
    entries = r["entries"]
    entries.insert(0, "sample_id", obs.index[entries["row"]].astype(str))
    entries.insert(1, "gene_id", var.index[entries["col"]].astype(str))
    _write_table(entries, outputs["entries"])
    write_tsv(r["curve"], outputs["curve"])
    write_json(r["card"], outputs["card"])
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log.info("factorized %dd fold %d: validation MSE %.4f, fit %.1f s", size, fold, r["card"]["validation"]["mse"],
             r["card"]["timings_s"]["fit"])


# ---------------------------------------------------------------------------------------- evaluation
def evaluate_embedding_stage(inputs: dict, *, exp_name: str, exp: dict, size: int, folds: list[int],
                             evaluation: dict, seed: int, outputs: dict) -> None:
    """Rule evaluate_embedding: per fold, the classifier protocol for FE and every baseline, the
    gene-neighbour enrichment, and the imputation MAE."""
    import anndata as ad

    from gexflow.metrics import embedding as em

    X, obs, var = load_data(inputs["h5ad"], inputs.get("genes_tsv"))
    kegg = pd.read_csv(inputs["kegg"], sep="\t", dtype=str)
    per_split, genes_rows, imp_rows, coords = [], [], [], []
    for i, fold in enumerate(folds):
        train, val, test = read_split(inputs["split"], obs.index, fold)
        s = ad.read_h5ad(inputs["samples"][i])
        if list(s.obs_names) != list(obs.index.astype(str)):
            raise InputError(inputs["samples"][i], "obs_names", "samples differ from the dataset",
                             "rerun train_embedding")
        held_out = s.obs["split_role"].to_numpy() != "train"
        fseed = derived_seed(seed, exp_name, "evaluate", size, fold)
        embs = {"factorized": np.asarray(s.X, dtype=np.float64),
                **em.baseline_embeddings(X, train, size, evaluation["baselines"], seed=fseed, settings=evaluation)}
        for lname, lab in experiment_labels(exp).items():
            df = em.classifier_protocol(embs, class_labels(obs, lab), fractions=evaluation["fractions"],
                                        n_splits=evaluation["n_splits"], classifiers=evaluation["classifiers"],
                                        seed=derived_seed(seed, exp_name, "draws", lname), held_out=held_out,
                                        settings=evaluation, only={"raw": evaluation["raw_classifiers"]})
            df.insert(0, "label", lname)
            df.insert(1, "fold", fold)
            per_split.append(df)
        if i == 0:
            for m, Z in embs.items():
                if m == "raw":
                    continue
                c = pd.DataFrame({"sample_id": obs.index.astype(str), "method": m, "role": s.obs["split_role"].values,
                                  "dim1": Z[:, 0], "dim2": Z[:, 1] if Z.shape[1] > 1 else 0.0})
                coords.append(c)
        # gene side: factorized gene embedding vs PCA loadings of the same size
        G = np.asarray(ad.read_h5ad(inputs["genes_emb"][i]).X, dtype=np.float64)
        from sklearn.decomposition import PCA

        gene_embs = {"factorized": G, "pca_loadings": PCA(min(G.shape[1], len(train) - 1, X.shape[1]),
                                                          random_state=fseed).fit(X[train]).components_.T}
        rel_kegg, annotated = em.kegg_relation(var.get("entrez_id", pd.Series("", index=var.index)).astype(str)
                                               .tolist(), var["symbol"].astype(str).tolist() if "symbol" in var
                                               else var.index.astype(str).tolist(), kegg)
        rel_co = em.coexpression_relation(X[train], evaluation["coexpression_top"])
        for m, G_ in gene_embs.items():
            a = np.flatnonzero(annotated)
            for ref, rel, rows in (("kegg_shared_pathway", rel_kegg[np.ix_(a, a)], a),
                                   ("top_coexpressed", rel_co, np.arange(len(G_)))):
                r = em.neighbour_enrichment(G_[rows], rel, k=evaluation["gene_k"],
                                            permutations=evaluation["permutations"],
                                            seed=derived_seed(seed, exp_name, "genes", ref, fold))
                genes_rows.append({"fold": fold, "method": m, "reference": ref, **r})
        # imputation: the masked entries of the training samples
        entries = pd.read_csv(inputs["entries"][i], sep="\t")
        Xt = X.copy()
        Xt[entries["row"].to_numpy(), entries["col"].to_numpy()] = np.nan
        test_e = entries[entries["role"] == "test"]
        pos = {r: k for k, r in enumerate(train)}
        rows = np.array([pos[r] for r in test_e["row"]], dtype=int)
        imp = em.imputation_mae(Xt[train], test_e["value"].to_numpy(), rows, test_e["col"].to_numpy(),
                                {"factorized": test_e["factorized"].to_numpy()},
                                knn_neighbours=evaluation["knn_imputer_neighbours"])
        imp.insert(0, "fold", fold)
        imp_rows.append(imp)
        log.info("%s %dd fold %d: imputation MAE %s", exp_name, size, fold,
                 ", ".join(f"{m} {v:.4f}" for m, v in zip(imp["method"], imp["mae"])))
    per_split = pd.concat(per_split, ignore_index=True)
    per_split.insert(0, "size", size)
    summary = em.summarise_classifiers(per_split)
    summary.insert(0, "size", size)
    _write_table(per_split, outputs["per_split"])
    write_tsv(summary, outputs["classifiers"])
    write_tsv(pd.DataFrame(genes_rows).assign(size=size), outputs["genes"])
    write_tsv(pd.concat(imp_rows, ignore_index=True).assign(size=size), outputs["imputation"])
    _write_table(pd.concat(coords, ignore_index=True), outputs["coordinates"])
    one = summary[(summary["classifier"] == "1nn")]
    log.info("%s %dd 1-NN accuracy:\n%s", exp_name, size, one.to_string(index=False))


# ---------------------------------------------------------------------------------------- report
def _pm(mean, sd) -> str:
    if not np.isfinite(mean):
        return ""
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


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
            row[name] = _pm(g.at[m, "accuracy"], g.at[m, "accuracy_sd"])
            if m == "factorized":
                row["FE train samples"] = _pm(g.at[m, "acc_train"], g.at[m, "acc_train_sd"])
                row["FE held-out samples"] = _pm(g.at[m, "acc_held_out"], g.at[m, "acc_held_out_sd"])
        row["n_labelled"] = int(g["n_labelled"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def report_embedding_stage(inputs: dict, *, exp_name: str, exp: dict, sizes: list[int], markers: list[str],
                           pathways: list[str], outputs: dict) -> None:
    """Rule report_embedding: the classifier table (as in the paper), gene-neighbour enrichment,
    imputation MAE, and the figures (drawn from fold 0 of the smallest size)."""
    import anndata as ad

    from gexflow import plots

    summary = pd.concat([pd.read_csv(f, sep="\t") for f in inputs["classifiers"]], ignore_index=True)
    table = classifier_table(summary).astype({"size": "Int64", "n_labelled": "Int64"})
    notes = pd.DataFrame([{"label": "(how held-out samples are embedded)", **{
        {"factorized": "FE"}.get(m, m): v for m, v in HELD_OUT.items()}}])
    write_tsv(pd.concat([table, notes], ignore_index=True), outputs["table"])
    genes = pd.concat([pd.read_csv(f, sep="\t") for f in inputs["genes"]], ignore_index=True)
    write_tsv(genes.groupby(["size", "method", "reference"], sort=False).agg(
        k=("k", "first"), n_genes=("n_genes", "first"), observed=("observed", "mean"), expected=("expected", "mean"),
        ratio=("ratio", "mean"), p_value=("p_value", "max"), n_folds=("fold", "count")).reset_index(),
        outputs["gene_table"])
    imp = pd.concat([pd.read_csv(f, sep="\t") for f in inputs["imputation"]], ignore_index=True)
    write_tsv(imp.groupby(["size", "method"], sort=False).agg(mae=("mae", "mean"), mae_sd=("mae", "std"),
                                                               n_entries=("n_entries", "mean"),
                                                               n_folds=("fold", "count")).reset_index(),
              outputs["imputation"])
    log.info("%s 1-NN table:\n%s", exp_name, table[table["classifier"] == "1nn"].to_string(index=False))

    X, obs, var = load_data(inputs["h5ad"], inputs.get("genes_tsv"))
    first_label = next(iter(experiment_labels(exp).values()))
    labels = class_labels(obs, first_label)
    coords = pd.read_csv(inputs["coordinates"][0], sep="\t")
    size = sizes[0]
    plots.embedding_panels_figure(coords, dict(zip(obs.index.astype(str), labels)), outputs["samples_fig"],
                                  title=f"{exp_name}: {size}-D embeddings of all samples, fold 0, coloured by "
                                  f"{' x '.join(label_columns(first_label))} (FE: held-out samples by "
                                  "embed_new_samples; t-SNE transductive)")
    symbols = var["symbol"].astype(str) if "symbol" in var else pd.Series(var.index.astype(str), index=var.index)
    found = [(m, int(np.flatnonzero(symbols.to_numpy() == m)[0])) for m in markers if (symbols == m).any()]
    fe = coords[coords["method"] == "factorized"].set_index("sample_id").loc[obs.index.astype(str)]
    plots.marker_embedding_figure(fe[["dim1", "dim2"]].to_numpy(), {m: X[:, j] for m, j in found},
                                  outputs["markers_fig"], title=f"{exp_name}: FE sample embedding ({size}-D, fold 0) "
                                  "coloured by marker-gene expression (log2)" + ("" if found else
                                                                                 " — no marker gene in the data"))
    G = np.asarray(ad.read_h5ad(inputs["genes_emb"][0]).X, dtype=np.float64)
    kegg = pd.read_csv(inputs["kegg"], sep="\t", dtype=str)
    from gexflow.selection import map_to_dataset

    groups = {}
    for pid in pathways:
        members = kegg[kegg["pathway_id"] == pid]
        if len(members):
            hit = map_to_dataset(members, var).dropna()
            groups[f"{pid} {members['pathway_name'].iloc[0]}"] = np.flatnonzero(var.index.isin(hit.to_numpy()))
    plots.gene_embedding_figure(G, groups, outputs["genes_fig"],
                                title=f"{exp_name}: FE gene embedding (first two of {G.shape[1]} dims, PCA "
                                "if more), fold 0, KEGG pathways highlighted")


# ---------------------------------------------------------------------------- real missing values
def impute_missing_stage(inputs: dict, *, exp_name: str, exp: dict, ds: dict, size: int, cfg: dict, seed: int,
                         device: str, loop: dict, outputs: dict, threads: int) -> None:
    """Rule impute_missing: the dataset's real missing values (genes the filter dropped for them,
    `missing_values: drop_genes`) imputed by a factorized embedding trained on every sample's
    observed entries (all filtered genes plus the genes with missing values; a random
    `mask_fraction` of the entries held out to choose the checkpoint). Writes every entry of the
    genes with missing values, log2(x+1), with an `imputed` flag, and a card."""
    import torch

    from gexflow.filtering import to_log2p1

    torch.set_num_threads(threads)
    X, obs, var = load_data(inputs["h5ad"], inputs.get("genes_tsv"))
    raw = pd.read_csv(inputs["expression"], sep="\t", index_col=0, low_memory=False)
    raw.index = raw.index.astype(str)
    raw = raw.apply(pd.to_numeric, errors="coerce")
    samples = obs.index.astype(str)
    missing_cols = [s for s in samples if s not in raw.columns]
    if missing_cols:
        raise InputError(inputs["expression"], "columns", f"{len(missing_cols)} filtered samples are not in the "
                         f"staged matrix (e.g. {missing_cols[0]})", "rerun the download and filter stages")
    gaps = raw.loc[raw[samples].isna().any(axis=1), samples]
    symbols = var["symbol"].astype(str) if "symbol" in var else pd.Series(var.index.astype(str), index=var.index)
    gaps = gaps.loc[~gaps.index.isin(set(symbols) | set(var.index.astype(str)))]
    card = {"experiment": exp_name, "dataset": exp["dataset"], "n_genes_with_missing": int(len(gaps)),
            "n_missing_values": int(gaps.isna().to_numpy().sum()), "size": int(size), "seed": seed}
    if len(gaps) == 0:
        log.info("%s: no missing values in %s", exp_name, inputs["expression"])
        _write_table(pd.DataFrame(columns=["sample_id", "gene_id", "log2p1", "imputed"]), outputs["values"])
        write_json(card, outputs["card"])
        return
    G = to_log2p1(gaps.to_numpy(dtype=np.float64).T, ds["scale"], log_offset=ds.get("log_offset"),
                  file=inputs["expression"])  # NaN stays NaN
    full = np.hstack([X, G])
    every = np.arange(len(full))
    r = train_embedding(full, (every, every[:0], every[:0]), {**cfg, "sample_dim": int(size)},
                        seed=derived_seed(seed, exp_name, "impute_missing"), device=device, loop=loop)
    # a second pass is not needed: predict the NaN entries with the trained model's own predictions
    from gexflow.models.embedding import FactorizedEmbedding

    model = FactorizedEmbedding(len(full), full.shape[1], {**cfg, "sample_dim": int(size)}, "cpu")
    for k, m in model.modules.items():
        m.load_state_dict(r["state"]["modules"][k])
    mean, sd = (np.asarray(r["state"]["scale"][k]) for k in ("mean", "sd"))
    nan_r, nan_c = np.nonzero(np.isnan(G))
    cols = X.shape[1] + nan_c
    pred = model.predict(nan_r, cols).astype(np.float64) * sd[cols] + mean[cols]
    filled = G.copy()
    filled[nan_r, nan_c] = np.clip(pred, 0, None)  # log2(x+1) >= 0
    flag = np.isnan(G)
    out = pd.DataFrame({"sample_id": np.repeat(samples, G.shape[1]), "gene_id": np.tile(gaps.index, len(samples)),
                        "log2p1": filled.reshape(-1), "imputed": flag.reshape(-1)})
    for c in ("cohort", "condition"):
        if c in obs.columns:
            out.insert(2, c, np.repeat(obs[c].astype(str).to_numpy(), G.shape[1]))
    card.update({"validation_mse": r["card"]["validation"]["mse"], "epochs_run": r["card"]["epochs_run"],
                 "masked_entry_mae": r["card"]["imputation_mae_masked_test_entries"],
                 "imputed_per_gene": {g: int(n) for g, n in zip(gaps.index, flag.sum(0)) if n},
                 "samples_with_missing": int(flag.any(1).sum())})
    _write_table(out, outputs["values"])
    write_json(card, outputs["card"])
    log.info("%s: imputed %d missing values in %d genes of %d samples (held-out entry MAE %.3f)", exp_name,
             flag.sum(), len(gaps), flag.any(1).sum(), card["masked_entry_mae"])
