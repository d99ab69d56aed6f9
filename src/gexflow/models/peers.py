"""Peers every gexflow generator is compared with, on the same split and genes:
ctgan's CTGAN and TVAE (Xu et al. 2019), a class-conditional Gaussian with a Ledoit-Wolf (2004)
covariance, and a shuffled-genes negative control (each gene drawn independently within its
class: right marginals, no gene-gene structure). All fit on the training split and sample for
given classes; each is built as `Peer(settings, seed, device)` from the model registry.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger("gexflow.peers")


class ClassConditionalGaussian:
    """Per class: mean and Ledoit-Wolf shrunk covariance; classes with fewer than `min_class`
    training samples use the pooled fit."""

    def __init__(self, cfg: dict | None = None, seed: int = 0, device: str = "cpu", *, min_class: int | None = None):
        self.min_class = min_class if min_class is not None else int((cfg or {}).get("min_class", 3))

    def fit(self, X: np.ndarray, labels: np.ndarray) -> "ClassConditionalGaussian":
        from sklearn.covariance import LedoitWolf

        self.params = {}
        self.pooled = self._one(X, LedoitWolf)
        for c in np.unique(labels):
            rows = X[labels == c]
            self.params[c] = self._one(rows, LedoitWolf) if len(rows) >= self.min_class else self.pooled
        return self

    @staticmethod
    def _one(X, LedoitWolf):
        lw = LedoitWolf().fit(X)
        return X.mean(0), lw.covariance_, float(lw.shrinkage_)

    def sample(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((len(labels), len(self.pooled[0])))
        for c in np.unique(labels):
            mean, cov, _ = self.params.get(c, self.pooled)
            rows = labels == c
            out[rows] = _draw_normal(rng, mean, cov, int(rows.sum()))
        return out

    def card(self) -> dict:
        return {"shrinkage": {str(c): p[2] for c, p in self.params.items()}}

    def state(self) -> dict:
        """Plain data (model.pt): per class mean, covariance and shrinkage, and the pooled fit."""
        return {"min_class": self.min_class, "pooled": list(self.pooled),
                "classes": {str(c): list(p) for c, p in self.params.items()}}

    @classmethod
    def from_state(cls, state: dict) -> "ClassConditionalGaussian":
        self = cls(min_class=int(state["min_class"]))

        def params(p):
            return np.asarray(p[0], dtype=np.float64), np.asarray(p[1], dtype=np.float64), float(p[2])

        self.pooled = params(state["pooled"])
        self.params = {c: params(p) for c, p in state["classes"].items()}
        return self


class ShuffledGenes:
    """Negative control: every gene drawn independently from its training values within the class."""

    def __init__(self, cfg: dict | None = None, seed: int = 0, device: str = "cpu"):
        pass

    def fit(self, X: np.ndarray, labels: np.ndarray) -> "ShuffledGenes":
        self.X, self.labels = X, labels
        return self

    def sample(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((len(labels), self.X.shape[1]))
        for c in np.unique(labels):
            pool = self.X[self.labels == c] if np.any(self.labels == c) else self.X
            rows = np.flatnonzero(labels == c)
            for j in range(self.X.shape[1]):
                out[rows, j] = rng.choice(pool[:, j], size=len(rows), replace=True)
        return out

    def card(self) -> dict:
        return {}

    def state(self) -> dict:
        return {"X": self.X, "labels": [str(v) for v in self.labels]}

    @classmethod
    def from_state(cls, state: dict) -> "ShuffledGenes":
        return cls().fit(np.asarray(state["X"], dtype=np.float64), np.asarray(state["labels"], dtype=object))


class CtganPeer:
    """ctgan's CTGAN or TVAE on a table of genes plus the class label (discrete column).
    CTGAN samples each class through its conditional vector; TVAE cannot condition, so its samples
    are drawn in rounds and kept per class until every class has its count (rejection sampling)."""

    pickled = True  # the fitted model exists only as the library's Python object

    def __init__(self, kind: str, cfg: dict, seed: int, device: str):
        self.kind, self.cfg, self.seed, self.device = kind, dict(cfg), seed, device

    def fit(self, X: np.ndarray, labels: np.ndarray) -> "CtganPeer":
        import torch
        from ctgan import CTGAN, TVAE

        self.columns = [f"g{j}" for j in range(X.shape[1])]
        df = pd.DataFrame(X, columns=self.columns)
        df["label"] = labels.astype(str)
        cuda = self.device == "cuda"
        cls = CTGAN if self.kind == "ctgan" else TVAE
        kwargs = {k: v for k, v in self.cfg.items()}
        if cls is CTGAN:
            kwargs["pac"] = _pac(len(df), kwargs.get("batch_size", 500), kwargs.get("pac", 10))
        self.model = cls(**kwargs, enable_gpu=cuda)
        torch.manual_seed(self.seed)
        np.random.seed(self.seed % 2**32)
        if hasattr(self.model, "set_random_state"):
            self.model.set_random_state(self.seed)
        self.model.fit(df, discrete_columns=["label"])
        self.loss = getattr(self.model, "loss_values", None)
        return self

    def sample(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import torch

        torch.manual_seed(int(rng.integers(2**31)))
        np.random.seed(int(rng.integers(2**31)))
        labels = labels.astype(str)
        out = np.full((len(labels), len(self.columns)), np.nan)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            got = self._draw(c, len(rows))
            out[rows] = got
        return out

    def _draw(self, label: str, n: int) -> np.ndarray:
        if self.kind == "ctgan":
            s = self.model.sample(n, condition_column="label", condition_value=label)
            return s[self.columns].to_numpy(dtype=np.float64)
        kept: list[np.ndarray] = []
        for _ in range(50):
            s = self.model.sample(max(4 * n, 100))
            kept.append(s.loc[s["label"] == label, self.columns].to_numpy(dtype=np.float64))
            if sum(len(k) for k in kept) >= n:
                return np.vstack(kept)[:n]
        got = np.vstack(kept)
        log.warning("TVAE produced %d of %d samples of class %s in 50 rounds; the rest are unconditional",
                    len(got), n, label)
        s = self.model.sample(n - len(got))
        return np.vstack([got, s[self.columns].to_numpy(dtype=np.float64)])

    def card(self) -> dict:
        return {"library": "ctgan", "class": self.kind.upper(), "settings": self.cfg}

    def state(self):
        """The fitted library object itself: it exists only as a pickle (see training.save_model)."""
        return self

    @classmethod
    def from_state(cls, state):
        return state  # the unpickled peer (training.load_pickled_model checked its sha256 first)


class CTGANPeer(CtganPeer):
    def __init__(self, cfg: dict, seed: int, device: str):
        super().__init__("ctgan", cfg, seed, device)


class TVAEPeer(CtganPeer):
    def __init__(self, cfg: dict, seed: int, device: str):
        super().__init__("tvae", cfg, seed, device)


def _pac(n: int, batch_size: int, pac: int) -> int:
    """CTGAN needs batch_size % pac == 0 and at least one pack; keep the default pac when it fits."""
    while pac > 1 and batch_size % pac:
        pac -= 1
    return pac


def _draw_normal(rng: np.random.Generator, mean, cov, n: int) -> np.ndarray:
    """Multivariate normal draws: Cholesky, or, for a covariance that is only semi-definite (a
    gene constant in a class's few training samples has zero variance), the eigendecomposition,
    which numpy accepts for positive semi-definite matrices."""
    state = rng.bit_generator.state
    try:
        return rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    except np.linalg.LinAlgError:
        rng.bit_generator.state = state  # the same stream either way
        return rng.multivariate_normal(mean, cov, size=n, method="eigh")

