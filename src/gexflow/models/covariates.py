"""The covariate encoder shared by every generator: categorical covariates become learned
embeddings of size floor(sqrt(vocab)) + 1, numerical covariates (age) are standardised with
training-split statistics. Fitted on the training split only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from gexflow.errors import InputError

UNKNOWN = "<unknown>"  # index 0 of every vocabulary: missing values and categories unseen in training


class CovariateEncoder:
    def __init__(self, categorical: list[str], numerical: list[str]):
        self.categorical, self.numerical = list(categorical), list(numerical)
        self.vocab: dict[str, list[str]] = {}
        self.mean: dict[str, float] = {}
        self.sd: dict[str, float] = {}

    def fit(self, obs: pd.DataFrame, what="samples") -> "CovariateEncoder":
        for c in self.categorical + self.numerical:
            if c not in obs.columns:
                raise InputError(what, c, "covariate column not in the sample sheet",
                                 f"use one of: {', '.join(map(str, obs.columns))}")
        for c in self.categorical:
            self.vocab[c] = [UNKNOWN] + sorted(obs[c].dropna().astype(str).unique())
        for c in self.numerical:
            v = pd.to_numeric(obs[c], errors="coerce").to_numpy(dtype=np.float64)
            if np.isfinite(v).sum() < 2:
                raise InputError(what, c, "numerical covariate has fewer than 2 values in the training split",
                                 "remove it from the experiment's numerical covariates")
            self.mean[c] = float(np.nanmean(v))
            sd = float(np.nanstd(v))
            self.sd[c] = sd if sd > 0 else 1.0
        return self

    def transform(self, obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(codes int64 n x n_categorical, standardised float32 n x n_numerical); a missing
        numerical value becomes 0, the training mean."""
        codes = np.zeros((len(obs), len(self.categorical)), dtype=np.int64)
        for j, c in enumerate(self.categorical):
            index = {v: i for i, v in enumerate(self.vocab[c])}
            codes[:, j] = [index.get(str(v), 0) if pd.notna(v) else 0 for v in obs[c]]
        nums = np.zeros((len(obs), len(self.numerical)), dtype=np.float32)
        for j, c in enumerate(self.numerical):
            v = (pd.to_numeric(obs[c], errors="coerce").to_numpy(dtype=np.float64) - self.mean[c]) / self.sd[c]
            nums[:, j] = np.nan_to_num(v, nan=0.0)
        return codes, nums

    @property
    def vocab_sizes(self) -> list[int]:
        return [len(self.vocab[c]) - 1 for c in self.categorical]  # without the unknown slot

    def to_dict(self) -> dict:
        return {"categorical": self.categorical, "numerical": self.numerical, "vocab": self.vocab,
                "mean": self.mean, "sd": self.sd}

    @classmethod
    def from_dict(cls, d: dict) -> "CovariateEncoder":
        enc = cls(d["categorical"], d["numerical"])
        enc.vocab, enc.mean, enc.sd = d["vocab"], d["mean"], d["sd"]
        return enc


def embedding_size(vocab: int) -> int:
    return math.isqrt(vocab) + 1


class CovariateEmbedding(nn.Module):
    """Categorical codes -> concatenated embeddings, followed by the numerical covariates."""

    def __init__(self, vocab_sizes: list[int], n_numerical: int):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(v + 1, embedding_size(v)) for v in vocab_sizes)
        self.n_numerical = n_numerical
        self.out_dim = sum(embedding_size(v) for v in vocab_sizes) + n_numerical

    def forward(self, codes: torch.Tensor, nums: torch.Tensor) -> torch.Tensor:
        parts = [emb(codes[:, j]) for j, emb in enumerate(self.embeddings)]
        if self.n_numerical:
            parts.append(nums)
        if not parts:
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        return torch.cat(parts, dim=1)
