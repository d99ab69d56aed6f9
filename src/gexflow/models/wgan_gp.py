"""Conditional WGAN-GP (Gulrajani et al. 2017, as used by the gexflow backbone paper): generator
G(z, covariates) -> expression, critic D(x, covariates) -> score.

critic loss    E[D(x_hat)] - E[D(x)] + lambda * E[(||grad D(x_bar)||_2 - 1)^2],  x_bar = eps x + (1-eps) x_hat,
               eps ~ U(0, 1) drawn per sample
generator loss -E[D(x_hat)]
n_critic critic steps per generator step, each on a fresh real batch.
One epoch = ceil(n_train / batch_size) generator steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gexflow.models.covariates import CovariateEmbedding
from gexflow.models.layers import mlp
from gexflow.models.training import Batches


class Generator(nn.Module):
    def __init__(self, n_genes: int, z_dim: int, hidden: list[int], vocab_sizes: list[int], n_numerical: int):
        super().__init__()
        self.z_dim = z_dim
        self.covariates = CovariateEmbedding(vocab_sizes, n_numerical)
        self.net = mlp([z_dim + self.covariates.out_dim, *hidden, n_genes])

    def forward(self, z, codes, nums):
        return self.net(torch.cat([z, self.covariates(codes, nums)], dim=1))


class Critic(nn.Module):
    def __init__(self, n_genes: int, hidden: list[int], vocab_sizes: list[int], n_numerical: int):
        super().__init__()
        self.covariates = CovariateEmbedding(vocab_sizes, n_numerical)
        self.net = mlp([n_genes + self.covariates.out_dim, *hidden, 1])

    def forward(self, x, codes, nums):
        return self.net(torch.cat([x, self.covariates(codes, nums)], dim=1)).squeeze(1)


def gradient_penalty(critic, real, fake, codes, nums, eps: torch.Tensor, gp_lambda: float) -> torch.Tensor:
    """lambda * E[(||grad_x D(x_bar)||_2 - 1)^2] at x_bar = eps * real + (1 - eps) * fake, one eps per sample."""
    x_bar = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_bar, codes, nums)
    (grad,) = torch.autograd.grad(scores.sum(), x_bar, create_graph=True)
    return gp_lambda * ((grad.norm(2, dim=1) - 1) ** 2).mean()


def critic_loss(critic, real, fake, codes, nums, eps,
                gp_lambda: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, Wasserstein estimate E[D(x)] - E[D(x_hat)], gradient penalty)."""
    d_real, d_fake = critic(real, codes, nums).mean(), critic(fake, codes, nums).mean()
    gp = gradient_penalty(critic, real, fake, codes, nums, eps, gp_lambda)
    return d_fake - d_real + gp, d_real - d_fake, gp


def generator_loss(critic, fake, codes, nums) -> torch.Tensor:
    return -critic(fake, codes, nums).mean()


def _optimiser(params, cfg: dict, lr: float):
    if cfg["optimiser"] == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg["betas"]))
    return torch.optim.RMSprop(params, lr=lr)


class WGANGP:
    """Trainable for the shared loop."""

    def __init__(self, n_genes: int, vocab_sizes: list[int], n_numerical: int, cfg: dict, device: torch.device):
        self.cfg, self.device = cfg, device
        self.G = Generator(n_genes, cfg["z_dim"], cfg["generator_hidden"], vocab_sizes, n_numerical).to(device)
        self.D = Critic(n_genes, cfg["critic_hidden"], vocab_sizes, n_numerical).to(device)
        self.modules = {"generator": self.G, "critic": self.D}
        self.optimisers = {"generator": _optimiser(self.G.parameters(), cfg, cfg["lr_generator"]),
                           "critic": _optimiser(self.D.parameters(), cfg, cfg["lr_critic"])}
        self._order: torch.Tensor | None = None
        self._pos = 0

    def _real_batch(self, data: Batches, gen: torch.Generator):
        """Fresh real batches: walk a random permutation, reshuffled when exhausted."""
        b = min(self.cfg["batch_size"], len(data))
        if self._order is None or self._pos + b > len(data):
            self._order, self._pos = torch.randperm(len(data), generator=gen), 0
        idx = self._order[self._pos:self._pos + b]
        self._pos += b
        return data.take(idx)

    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.G.z_dim, generator=gen).to(self.device)

    def train_epoch(self, data: Batches, gen: torch.Generator, epoch: int) -> dict[str, float]:
        self._order = None  # each epoch starts a fresh permutation (keeps resume exact)
        steps = math.ceil(len(data) / self.cfg["batch_size"])
        opt_g, opt_d = self.optimisers["generator"], self.optimisers["critic"]
        sums = {"critic_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0, "generator_loss": 0.0}
        for _ in range(steps):
            for _ in range(self.cfg["n_critic"]):
                x, codes, nums = self._real_batch(data, gen)
                with torch.no_grad():
                    fake = self.G(self._noise(len(x), gen), codes, nums)
                eps = torch.rand(len(x), 1, generator=gen).to(self.device)
                loss, w, gp = critic_loss(self.D, x, fake, codes, nums, eps, self.cfg["gp_lambda"])
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
            x, codes, nums = self._real_batch(data, gen)
            g_loss = generator_loss(self.D, self.G(self._noise(len(x), gen), codes, nums), codes, nums)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            sums["critic_loss"] += loss.item()
            sums["wasserstein"] += w.item()
            sums["gradient_penalty"] += gp.item()
            sums["generator_loss"] += g_loss.item()
        return {k: v / steps for k, v in sums.items()}

    def sample(self, codes: torch.Tensor, nums: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        self.G.eval()
        with torch.no_grad():
            return self.G(self._noise(len(codes), gen), codes.to(self.device), nums.to(self.device))
