"""Stage apply: rules predict_targets (a landmark model applied to a user's landmark-only
matrix) and embed_samples (a user's new matrix embedded by the released factorized embedding).
Reads inputs, calls `gexflow.inference` / `gexflow.embedding`, writes outputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gexflow.io import write_h5ad, write_json, write_tsv
from gexflow.models.training import load_model

log = logging.getLogger("gexflow.stages.apply")


def predict_targets(job) -> None:
    """Rule predict_targets: full profiles (landmarks as given + predicted targets, log2(x + 1)) of a
    user's landmark-only matrix, as .h5ad (samples x genes) and TSV (genes x samples), and a summary."""
    import anndata as ad

    from gexflow import inference

    spec = job.params["job"]["spec"]
    bundle = load_model(job.input["model"])
    M = inference.read_landmark_matrix(spec["matrix"], spec["gene_id_column"], spec["scale"], spec.get("log_offset"))
    full, var, missing = inference.predict_profiles(bundle, M, spec["missing_landmarks"], spec["matrix"])
    write_h5ad(ad.AnnData(X=full.astype(np.float32), obs=pd.DataFrame(index=M.index.astype(str)), var=var),
               job.output["h5ad"])
    tsv = pd.DataFrame(full.T.round(4), index=pd.Index(var.index, name="gene_id"), columns=M.index)
    tsv.insert(0, "symbol", var["symbol"].to_numpy())
    write_tsv(tsv.reset_index(), job.output["tsv"])
    write_json({"samples": int(M.shape[0]), "landmarks": len(bundle["inputs"]), "targets": len(bundle["targets"]),
                "missing_landmarks": len(missing), "imputed": missing if spec["missing_landmarks"] == "impute" else [],
                "policy": spec["missing_landmarks"], "scale_in": spec["scale"], "scale_out": "log2(x+1)"},
               job.output["summary"])
    log.info("predicted %d targets for %d samples from %d landmarks (%d imputed)", len(bundle["targets"]),
             M.shape[0], len(bundle["inputs"]), len(missing))


def embed_samples(job) -> None:
    """Rule embed_samples: embedding.h5ad (the user's samples x the embedding dimensions, basis
    `fe` for scanpy) and summary.json (genes present, missing and ignored)."""
    import anndata as ad

    from gexflow.embedding import embed_matrix
    from gexflow.inference import read_landmark_matrix

    spec = job.params["job"]["spec"]
    state = load_model(job.input["model"])
    M = read_landmark_matrix(spec["matrix"], spec["gene_id_column"], spec["scale"], spec.get("log_offset"))
    cfg = state["settings"]
    E, summary = embed_matrix(state, M, epochs=cfg["new_sample_epochs"], lr=cfg["new_sample_lr"],
                              batch_size=cfg["batch_size"], seed=job.params["job"]["seed"], path=spec["matrix"])
    E = E.astype(np.float32)
    obs = pd.DataFrame(index=M.index.astype(str))
    var = pd.DataFrame(index=[f"fe_{i + 1}" for i in range(E.shape[1])])
    write_h5ad(ad.AnnData(X=E, obs=obs, var=var, obsm={"X_fe": E}), job.output["h5ad"])
    write_json({**summary, "scale_in": spec["scale"], "embedded_by": "released network, frozen"}, job.output["summary"])
    log.info("embedded %d samples (%d of %d genes present)", summary["samples"], summary["genes_present"],
             summary["genes_of_model"])
