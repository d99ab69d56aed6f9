"""The one table of per-model facts that the workflow, the config checks, the stages and the
plots read: which stage a model belongs to, what kind it is, its display name, the library files
whose edits must retrain it, and whether it can use a GPU.

Imported by the Snakefile at parse time: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    stage: str  # "generate", "infer" (later "embed")
    kind: str  # "torch": trained by models.training.fit; "peer": a library fit; "sklearn": a closed-form or
    # library regressor (setting chosen on validation); "reference": no training
    display: str  # name in tables and figures
    code: tuple[str, ...] = ()  # files under src/gexflow/ that define it (edits retrain it)
    gpu: bool = False  # can train on a GPU (the rule then asks the scheduler for one)


_MODELS = (
    ModelInfo("wgan_gp", "generate", "torch", "WGAN-GP", ("models/layers.py", "models/wgan_gp.py"), gpu=True),
    ModelInfo("cvae", "generate", "torch", "CVAE", ("models/layers.py", "models/cvae.py"), gpu=True),
    ModelInfo("diffusion", "generate", "torch", "diffusion (DDIM)", ("models/layers.py", "models/diffusion.py"),
              gpu=True),
    ModelInfo("ctgan", "generate", "peer", "CTGAN", ("models/peers.py",), gpu=True),
    ModelInfo("tvae", "generate", "peer", "TVAE", ("models/peers.py",), gpu=True),
    ModelInfo("gaussian", "generate", "peer", "Gaussian (Ledoit-Wolf)", ("models/peers.py",)),
    ModelInfo("shuffled", "generate", "peer", "shuffled genes", ("models/peers.py",)),
    # The real training split scored as if it were synthetic: the ceiling row of the comparison.
    ModelInfo("real_train", "generate", "reference", "real (train split)"),
    # Landmark -> target inference (issue 10): the LINCS least-squares baseline, ridge (alpha on
    # validation), KNN (k on validation) and a D-GEX-style MLP in the shared loop.
    ModelInfo("linear", "infer", "sklearn", "linear regression", ("models/regression.py",)),
    ModelInfo("ridge", "infer", "sklearn", "ridge", ("models/regression.py",)),
    ModelInfo("knn", "infer", "sklearn", "KNN", ("models/regression.py",)),
    ModelInfo("dgex_mlp", "infer", "torch", "D-GEX MLP", ("models/layers.py", "models/regression.py"), gpu=True),
    # The same network learning ridge's residual (an ensemble with ridge; starts at ridge's predictions).
    ModelInfo("dgex_residual", "infer", "torch", "D-GEX MLP + ridge", ("models/layers.py", "models/regression.py"),
              gpu=True),
    # Factorized gene and sample embeddings (issue 11) and the embeddings they are compared with
    # (fitted in evaluate_embedding, same dimension; "raw" is the expression data itself).
    ModelInfo("factorized", "embed", "torch", "factorized embedding", ("models/layers.py", "models/embedding.py"),
              gpu=True),
    ModelInfo("pca", "embed", "sklearn", "PCA", ("metrics/embedding.py",)),  # metrics.embedding.baseline_embeddings
    ModelInfo("nmf", "embed", "sklearn", "NMF", ("metrics/embedding.py",)),
    ModelInfo("tsne", "embed", "sklearn", "t-SNE (transductive)", ("metrics/embedding.py",)),
    ModelInfo("umap", "embed", "peer", "UMAP", ("metrics/embedding.py",)),
    ModelInfo("raw", "embed", "reference", "raw data"),
)
MODELS: dict[str, ModelInfo] = {m.name: m for m in _MODELS}
CEILING = "real_train"


def models(stage: str, *kinds: str) -> list[str]:
    """Names of a stage's models, in registry order, optionally of the given kinds only."""
    return [m.name for m in _MODELS if m.stage == stage and (not kinds or m.kind in kinds)]


def trainable(stage: str) -> list[str]:
    """The models a user can list in a stage's config (every kind but the reference rows)."""
    return models(stage, "torch", "peer", "sklearn")


def display_name(name: str) -> str:
    return MODELS[name].display if name in MODELS else name
