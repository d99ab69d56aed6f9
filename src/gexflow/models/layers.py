"""Layers shared by gexflow's torch models."""

from __future__ import annotations

from torch import nn


def mlp(sizes: list[int], *, activation=nn.LeakyReLU, final: bool = False, dropout: float = 0.0,
        batchnorm: bool = False) -> nn.Sequential:
    """Linear layers of the given widths, each but the last (all with `final`) followed by
    optional batch norm, the activation (LeakyReLU(0.2) by default) and optional dropout."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last or final:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(activation(0.2) if activation is nn.LeakyReLU else activation())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
