"""Conditional VAE: encoder(x, covariates) -> (mu, log sigma^2), decoder(z, covariates) -> mean
expression, and a per-gene decoder noise variance (learned, or fixed from config).

loss = reconstruction + beta_t * KL(q(z|x,c) || N(0, I)), beta_t warmed up linearly over
`warmup_epochs`. The reconstruction term is the Gaussian negative log-likelihood under the decoder
variance, so a learned variance is the maximum-likelihood noise level.
Sampling draws z ~ N(0, I) *and* the decoder noise x = mean + sigma * e (the reference code's
noiseless decoder means are too smooth), with batch norm and dropout in eval mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gexflow.models.covariates import CovariateEmbedding
from gexflow.models.layers import mlp
from gexflow.models.training import Batches


class ConditionalVAE(nn.Module):
    def __init__(self, n_genes: int, latent_dim: int, hidden: list[int], vocab_sizes: list[int], n_numerical: int,
                 *, dropout: float, batchnorm: bool, decoder_noise: str, noise_sd: float):
        super().__init__()
        self.latent_dim = latent_dim
        self.enc_cov = CovariateEmbedding(vocab_sizes, n_numerical)
        self.dec_cov = CovariateEmbedding(vocab_sizes, n_numerical)
        self.encoder = mlp([n_genes + self.enc_cov.out_dim, *hidden], final=True, dropout=dropout, batchnorm=batchnorm)
        self.mu = nn.Linear(hidden[-1], latent_dim)
        self.logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = mlp([latent_dim + self.dec_cov.out_dim, *reversed(hidden), n_genes], dropout=dropout,
                           batchnorm=batchnorm)
        log_sd = torch.full((n_genes,), math.log(noise_sd))
        if decoder_noise == "learned":
            self.log_sd = nn.Parameter(log_sd)
        else:
            self.register_buffer("log_sd", log_sd)

    def encode(self, x, codes, nums):
        h = self.encoder(torch.cat([x, self.enc_cov(codes, nums)], dim=1))
        return self.mu(h), self.logvar(h)

    def decode(self, z, codes, nums):
        return self.decoder(torch.cat([z, self.dec_cov(codes, nums)], dim=1))


def cvae_loss(model: ConditionalVAE, x, codes, nums, eps: torch.Tensor, beta: float):
    """(total, reconstruction, KL), each summed over genes / latent units and averaged over samples.
    `eps` ~ N(0, I) is the reparameterisation noise."""
    mu, logvar = model.encode(x, codes, nums)
    z = mu + torch.exp(0.5 * logvar) * eps
    mean = model.decode(z, codes, nums)
    log_sd = model.log_sd
    recon = (0.5 * ((x - mean) / torch.exp(log_sd)) ** 2 + log_sd + 0.5 * math.log(2 * math.pi)).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return recon + beta * kl, recon, kl


class CVAE:
    """Trainable for the shared loop."""

    def __init__(self, n_genes: int, vocab_sizes: list[int], n_numerical: int, cfg: dict, device: torch.device):
        self.cfg, self.device = cfg, device
        self.net = ConditionalVAE(n_genes, cfg["latent_dim"], cfg["hidden"], vocab_sizes, n_numerical,
                                  dropout=cfg["dropout"], batchnorm=cfg["batchnorm"],
                                  decoder_noise=cfg["decoder_noise"], noise_sd=cfg["noise_sd"]).to(device)
        self.modules = {"cvae": self.net}
        self.optimisers = {"cvae": torch.optim.Adam(self.net.parameters(), lr=cfg["lr"],
                                                    weight_decay=cfg["weight_decay"])}

    def beta(self, epoch: int) -> float:
        warm = self.cfg["warmup_epochs"]
        return self.cfg["beta"] * (min(1.0, epoch / warm) if warm else 1.0)

    def train_epoch(self, data: Batches, gen: torch.Generator, epoch: int) -> dict[str, float]:
        order = torch.randperm(len(data), generator=gen)
        b = self.cfg["batch_size"]
        beta = self.beta(epoch)
        sums, steps = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}, 0
        opt = self.optimisers["cvae"]
        for start in range(0, len(data), b):
            idx = order[start:start + b]
            if len(idx) < 2 and self.cfg["batchnorm"]:
                continue  # batch norm cannot train on a single sample
            x, codes, nums = data.take(idx)
            eps = torch.randn(len(x), self.net.latent_dim, generator=gen).to(self.device)
            loss, recon, kl = cvae_loss(self.net, x, codes, nums, eps, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["loss"] += loss.item()
            sums["reconstruction"] += recon.item()
            sums["kl"] += kl.item()
            steps += 1
        out = {k: v / max(steps, 1) for k, v in sums.items()}
        out["beta"] = beta
        out["decoder_sd_mean"] = float(torch.exp(self.net.log_sd.detach()).mean())
        return out

    def sample(self, codes: torch.Tensor, nums: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """z ~ N(0, I), x = decoder mean + decoder noise; eval mode (batch norm, dropout)."""
        self.net.eval()
        with torch.no_grad():
            n = len(codes)
            z = torch.randn(n, self.net.latent_dim, generator=gen).to(self.device)
            mean = self.net.decode(z, codes.to(self.device), nums.to(self.device))
            noise = torch.randn(mean.shape, generator=gen).to(self.device)
            return mean + torch.exp(self.net.log_sd) * noise
