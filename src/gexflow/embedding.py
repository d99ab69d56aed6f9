"""Factorized gene and sample embeddings (Trofimov et al. 2020) on the shared split: the masking
protocol, training, embedding of held-out samples, the per-fold evaluation against PCA, NMF,
t-SNE, UMAP and the raw data, and the imputation of a dataset's real missing values.

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

import time

import numpy as np
import pandas as pd

from gexflow.experiment import derived_seed
from gexflow.filtering import ZScore

ROLE_NAMES = ("train", "val", "test")
def roles(n: int, split) -> np.ndarray:
    """Each sample's role in a fold: train, val or test."""
    role = np.empty(n, dtype=object)
    for r, idx in zip(ROLE_NAMES, split):
        role[idx] = r
    return role


def mask_protocol(observed: np.ndarray, fraction: float, seed: int):
    """(trainable entries, masked flat indices, validation entries, imputation test entries) of the
    training samples' observed entries; half the masked entries validate, half test imputation."""
    from gexflow.models.embedding import mask_entries

    rng = np.random.default_rng(derived_seed(seed, "mask"))
    masked = mask_entries(observed, fraction, rng)
    order = rng.permutation(len(masked))
    half = max(1, len(masked) // 2)
    val_entries, test_entries = np.sort(masked[order[:half]]), np.sort(masked[order[half:]])
    trainable = observed.copy().reshape(-1)
    trainable[masked] = False
    return trainable.reshape(observed.shape), masked, val_entries, test_entries


def train_embedding(X: np.ndarray, split, cfg: dict, *, seed: int, trainer) -> dict:
    """Train on the training rows, embed the others; returns sample and gene embeddings, the
    masked entries with their predictions (log2 scale), the card, the curve and the state."""
    import torch

    from gexflow.models.embedding import FactorizedEmbedding, PairData

    train, val, test = (np.asarray(s) for s in split)
    held = np.sort(np.concatenate([val, test]))
    n_genes = X.shape[1]
    scale = ZScore.fit(X[train], missing=True, centre_only=cfg.get("scale", "zscore") != "zscore", min_sd=1e-8)
    Z = scale.transform(X)
    Zt = Z[train]
    trainable, masked, val_entries, test_entries = mask_protocol(np.isfinite(Zt), cfg["mask_fraction"], seed)
    dev = trainer.torch_device()
    gen = trainer.generator(seed)
    model = FactorizedEmbedding(len(train), n_genes, cfg, dev)
    data = PairData(Zt, trainable, batch_size=cfg["batch_size"], device=dev)
    vr, vc = np.divmod(val_entries, n_genes)
    truth_v = Zt[vr, vc]

    def validate(m, g):  # reconstruction MSE of the held-out validation entries (z-scores): lower is better
        p = m.predict(vr, vc)
        return float(np.mean((p - truth_v) ** 2)) if np.all(np.isfinite(p)) else np.inf

    res = trainer.fit(model, data, validate, epochs=cfg["epochs"], gen=gen, maximise=False, metric="mse")
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
    pred = model.predict(rows, cols).astype(np.float64) * scale.sd[cols] + scale.mean[cols]
    role = np.where(np.isin(masked, test_entries), "test", "val")
    entries = pd.DataFrame({"row": train[rows], "col": cols, "role": role, "value": X[train][rows, cols],
                            "factorized": pred})
    is_test = entries.role == "test"
    test_mae = float(np.mean(np.abs(entries.loc[is_test, "factorized"] - entries.loc[is_test, "value"])))
    card = {"model": "factorized", "seed": seed, "settings": cfg, "device": str(dev), "n_train": int(len(train)),
            "n_val": int(len(val)), "n_test": int(len(test)), "n_genes": int(n_genes),
            "n_trained_entries": int(trainable.sum()), "n_masked_entries": int(len(masked)), **res.card,
            "imputation_mae_masked_test_entries": test_mae,
            "parameters": int(sum(p.numel() for p in model.net.parameters())),
            "timings_s": {"fit": round(res.seconds, 3), "to_best_validation": round(res.seconds_to_best, 3),
                          "embed_new_samples": round(embed_s, 3)}}
    state = {"modules": res.best_state, "scale": scale.to_dict(), "new_sample_embeddings": E[held],
             "held_out_rows": held.tolist(), "settings": cfg, "n_samples": int(len(train)), "n_genes": int(n_genes)}
    return {"samples": E, "genes": model.gene_embeddings(), "entries": entries, "card": card,
            "curve": res.history.drop(columns=["seconds"]), "state": state}


def restore_model(state: dict, device="cpu"):
    """The trained FactorizedEmbedding of a saved state (model.pt), weights loaded."""
    from gexflow.models.embedding import FactorizedEmbedding

    model = FactorizedEmbedding(int(state["n_samples"]), int(state["n_genes"]), state["settings"], device)
    for k, m in model.modules.items():
        m.load_state_dict(state["modules"][k])
    return model


# ---------------------------------------------------------------------------- real missing values
def impute_real_missing(X: np.ndarray, G: np.ndarray, cfg: dict, *, seed: int, trainer) -> tuple[np.ndarray, dict]:
    """The real missing values (NaN) of the genes G (samples x genes, log2(x+1)) imputed by a
    factorized embedding trained on every sample's observed entries of [X, G] (a random
    `mask_fraction` of them held out to choose the checkpoint). Returns (G filled, training card)."""
    full = np.hstack([X, G])
    every = np.arange(len(full))
    r = train_embedding(full, (every, every[:0], every[:0]), cfg, seed=seed, trainer=trainer)
    model = restore_model(r["state"])
    scale = ZScore.from_dict(r["state"]["scale"])
    nan_r, nan_c = np.nonzero(np.isnan(G))
    cols = X.shape[1] + nan_c
    pred = model.predict(nan_r, cols).astype(np.float64) * scale.sd[cols] + scale.mean[cols]
    filled = G.copy()
    filled[nan_r, nan_c] = np.clip(pred, 0, None)  # log2(x+1) >= 0
    return filled, r["card"]


# ------------------------------------------------------------------------------------------ release
def embed_matrix(state: dict, M, *, epochs: int, lr: float, batch_size: int, seed: int,
                 path) -> tuple[np.ndarray, dict]:
    """A user's samples (M: samples x genes, log2(x+1), any gene ids or symbols) embedded by a
    released factorized embedding (`state`: its model.pt), network and gene embeddings frozen.
    Genes the model has but the matrix lacks are unobserved entries (never filled in); at least
    half must be present. Returns (sample embeddings, summary)."""
    import torch

    from gexflow.errors import InputError

    model = restore_model(state)
    ids, symbols = list(state["gene_ids"]), list(state["gene_symbols"])
    cols = set(M.columns)
    values = np.full((len(M), len(ids)), np.nan)
    present = 0
    for j, (g, s) in enumerate(zip(ids, symbols)):
        c = g if g in cols else s if s in cols else None
        if c is not None:
            values[:, j] = M[c].to_numpy(dtype=np.float64)
            present += 1
    if present < len(ids) / 2:
        raise InputError(path, "(gene rows)", f"only {present} of the model's {len(ids)} genes are in the matrix "
                         f"(e.g. expected {', '.join(symbols[:5])})", "give the genes the embedding was trained "
                         "on (gene ids or symbols), on the scale declared by `scale`")
    scale = ZScore.from_dict(state["scale"])
    g = torch.Generator()
    g.manual_seed(derived_seed(seed, "embed_samples"))
    E = model.embed_new_samples(scale.transform(values), epochs=epochs, lr=lr, batch_size=batch_size, gen=g)
    return E, {"samples": int(len(M)), "genes_present": int(present), "genes_of_model": len(ids),
               "genes_ignored": len(cols - set(ids) - set(symbols))}
