"""The one table of per-model facts that the workflow, the config checks, the stages and the
plots read: which stage a model belongs to, what kind it is, its display name, where its class
lives (a lazy "module:Class" path, so this table stays import-light), and whether it can use a GPU.
The workflow derives each training rule's code inputs from the factory module's imports, so an edit
of a model's code retrains exactly that model.

Imported by the Snakefile at parse time: standard library only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    stage: str  # "generate", "infer" or "embed"
    kind: str  # "torch": trained by models.training.fit; "peer": a library fit; "sklearn": a closed-form or
    # library fit (setting chosen on validation); "reference": no training
    display: str  # name in tables and figures
    factory: str = ""  # "module:Class" that builds it (empty: fitted inside an evaluation, or no model)
    gpu: bool = False  # can train on a GPU (the rule then asks the scheduler for one)


_MODELS = (
    ModelInfo("wgan_gp", "generate", "torch", "WGAN-GP", "gexflow.models.wgan_gp:WGANGP", gpu=True),
    ModelInfo("cvae", "generate", "torch", "CVAE", "gexflow.models.cvae:CVAE", gpu=True),
    ModelInfo("diffusion", "generate", "torch", "diffusion (DDIM)", "gexflow.models.diffusion:Diffusion", gpu=True),
    ModelInfo("ctgan", "generate", "peer", "CTGAN", "gexflow.models.peers:CTGANPeer", gpu=True),
    ModelInfo("tvae", "generate", "peer", "TVAE", "gexflow.models.peers:TVAEPeer", gpu=True),
    ModelInfo("gaussian", "generate", "peer", "Gaussian (Ledoit-Wolf)",
              "gexflow.models.peers:ClassConditionalGaussian"),
    ModelInfo("shuffled", "generate", "peer", "shuffled genes", "gexflow.models.peers:ShuffledGenes"),
    # The real training split scored as if it were synthetic: the ceiling row of the comparison.
    ModelInfo("real_train", "generate", "reference", "real (train split)"),
    # Landmark -> target inference: the LINCS least-squares baseline, ridge (alpha on validation),
    # KNN (k on validation) and the D-GEX MLP of Chen et al. (2016) in the shared loop.
    ModelInfo("linear", "infer", "sklearn", "linear regression", "gexflow.models.regression:LeastSquares"),
    ModelInfo("ridge", "infer", "sklearn", "ridge", "gexflow.models.regression:Ridge"),
    ModelInfo("knn", "infer", "sklearn", "KNN", "gexflow.models.regression:KNN"),
    ModelInfo("dgex_mlp", "infer", "torch", "D-GEX MLP", "gexflow.models.regression:DGEXRegressor", gpu=True),
    # The same network learning ridge's residual (an ensemble with ridge; starts at ridge's predictions).
    ModelInfo("dgex_residual", "infer", "torch", "D-GEX MLP + ridge", "gexflow.models.regression:DGEXRegressor",
              gpu=True),
    # Factorized gene and sample embeddings (Trofimov et al. 2020) and the embeddings they are
    # compared with (fitted in evaluate_embedding, same dimension; "raw" is the expression data itself).
    ModelInfo("factorized", "embed", "torch", "factorized embedding", "gexflow.models.embedding:FactorizedEmbedding",
              gpu=True),
    ModelInfo("pca", "embed", "sklearn", "PCA"),  # fitted by metrics.embedding.baseline_embeddings
    ModelInfo("nmf", "embed", "sklearn", "NMF"),
    ModelInfo("tsne", "embed", "sklearn", "t-SNE (transductive)"),
    ModelInfo("umap", "embed", "peer", "UMAP"),
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


def factory_module(name: str) -> str | None:
    """The module that defines a model's class (None for models without one)."""
    return MODELS[name].factory.split(":")[0] if MODELS[name].factory else None


def model_class(name: str):
    """The class that builds model `name`, imported only now."""
    module, cls = MODELS[name].factory.split(":")
    return getattr(importlib.import_module(module), cls)
