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
    stage: str  # "generate" (later "infer", "embed")
    kind: str  # "torch": trained by models.training.fit; "peer": a library fit; "reference": no training
    display: str  # name in tables and figures
    code: tuple[str, ...] = ()  # files under src/gexflow/ that define it (edits retrain it)
    gpu: bool = False  # can train on a GPU (the rule then asks the scheduler for one)


_MODELS = (
    ModelInfo("wgan_gp", "generate", "torch", "WGAN-GP", ("models/layers.py", "models/wgan_gp.py"), gpu=True),
    ModelInfo("cvae", "generate", "torch", "CVAE", ("models/layers.py", "models/cvae.py"), gpu=True),
    ModelInfo("ctgan", "generate", "peer", "CTGAN", ("models/peers.py",), gpu=True),
    ModelInfo("tvae", "generate", "peer", "TVAE", ("models/peers.py",), gpu=True),
    ModelInfo("gaussian", "generate", "peer", "Gaussian (Ledoit-Wolf)", ("models/peers.py",)),
    ModelInfo("shuffled", "generate", "peer", "shuffled genes", ("models/peers.py",)),
    # The real training split scored as if it were synthetic: the ceiling row of the comparison.
    ModelInfo("real_train", "generate", "reference", "real (train split)"),
)
MODELS: dict[str, ModelInfo] = {m.name: m for m in _MODELS}
CEILING = "real_train"


def models(stage: str, *kinds: str) -> list[str]:
    """Names of a stage's models, in registry order, optionally of the given kinds only."""
    return [m.name for m in _MODELS if m.stage == stage and (not kinds or m.kind in kinds)]


def trainable(stage: str) -> list[str]:
    """The models a user can list in a stage's config (every kind but the reference rows)."""
    return models(stage, "torch", "peer")


def display_name(name: str) -> str:
    return MODELS[name].display if name in MODELS else name
