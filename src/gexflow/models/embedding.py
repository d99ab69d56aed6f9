"""Factorized embeddings (Trofimov et al. 2020): a sample embedding table and a gene
embedding table, and an MLP over the concatenated (sample, gene) embeddings that predicts that
gene's expression in that sample; MSE over every observed (sample, gene) pair.

Batches are built by index arithmetic on the matrix: the flat indices of the observed entries
are kept in one tensor, shuffled each epoch with `torch.randperm`, and split into rows
(index // n_genes) and columns (index % n_genes). Masked (held-out or missing) entries are
never in that tensor, so they are never visited.

`embed_new_samples` embeds samples the model was not trained on: the network and the gene
embeddings are frozen and only the new samples' embeddings are optimised on their observed
entries (the paper's code cannot do this; validation and test samples are embedded this way).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from gexflow.models.layers import mlp

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class PairData:
    """The observed entries of a samples x genes matrix, served as shuffled (rows, genes, values)
    batches. `observed` (bool, same shape) marks the entries that may be trained on."""

    def __init__(self, values: np.ndarray, observed: np.ndarray | None = None, *, batch_size: int,
                 device: torch.device | str = "cpu"):
        values = np.asarray(values, dtype=np.float32)
        if observed is None:
            observed = np.isfinite(values)
        observed = np.asarray(observed, dtype=bool) & np.isfinite(values)
        self.n_samples, self.n_genes = values.shape
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.values = torch.as_tensor(np.where(observed, values, 0.0), dtype=torch.float32).reshape(-1).to(self.device)
        self.flat = torch.as_tensor(np.flatnonzero(observed.reshape(-1)), dtype=torch.int64).to(self.device)

    def __len__(self) -> int:
        return int(self.flat.numel())

    def batches(self, gen: torch.Generator):
        """One epoch: every observed pair exactly once, in an order drawn from `gen`."""
        perm = torch.randperm(len(self), generator=gen).to(self.device)
        for start in range(0, len(self), self.batch_size):
            idx = self.flat[perm[start:start + self.batch_size]]
            yield idx // self.n_genes, idx % self.n_genes, self.values[idx]


class FactorizedNet(nn.Module):
    def __init__(self, n_samples: int, n_genes: int, sample_dim: int, gene_dim: int, hidden: list[int],
                 activation: str = "tanh", init_sd: float = 0.1):
        super().__init__()
        self.samples = nn.Embedding(n_samples, sample_dim)
        self.genes = nn.Embedding(n_genes, gene_dim)
        nn.init.normal_(self.samples.weight, 0.0, init_sd)
        nn.init.normal_(self.genes.weight, 0.0, init_sd)
        self.mlp = mlp([sample_dim + gene_dim, *hidden, 1], activation=ACTIVATIONS[activation])

    def head(self, s_emb: torch.Tensor, g_idx: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([s_emb, self.genes(g_idx)], dim=1)).squeeze(1)

    def forward(self, s_idx: torch.Tensor, g_idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.samples(s_idx), g_idx)


def _optimiser(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)


class FactorizedEmbedding:
    """The trainable of models.training.fit. `cfg`: sample_dim, gene_dim, hidden, activation,
    optimiser (rmsprop, the paper's, or adam), lr, batch_size."""

    def __init__(self, n_samples: int, n_genes: int, cfg: dict, device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.net = FactorizedNet(n_samples, n_genes, cfg["sample_dim"], cfg["gene_dim"], list(cfg["hidden"]),
                                 cfg.get("activation", "tanh"), cfg.get("init_sd", 0.1)).to(self.device)
        self.modules = {"net": self.net}
        self.optimisers = {"net": _optimiser(cfg.get("optimiser", "rmsprop"), self.net.parameters(), cfg["lr"])}

    def train_epoch(self, data: PairData, gen: torch.Generator, epoch: int) -> dict[str, float]:
        opt = self.optimisers["net"]
        total, n = 0.0, 0
        for s, g, y in data.batches(gen):
            loss = torch.mean((self.net(s, g) - y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        return {"mse": total / max(n, 1)}

    @torch.no_grad()
    def predict(self, s_idx, g_idx, sample_weight: torch.Tensor | None = None, batch_size: int = 65536) -> np.ndarray:
        """Predictions for (sample, gene) index pairs; `sample_weight` replaces the trained table
        (new samples' embeddings)."""
        table = self.net.samples.weight if sample_weight is None else sample_weight.to(self.device)
        s_idx = torch.as_tensor(np.asarray(s_idx), dtype=torch.int64, device=self.device)
        g_idx = torch.as_tensor(np.asarray(g_idx), dtype=torch.int64, device=self.device)
        out = [self.net.head(table[s_idx[i:i + batch_size]], g_idx[i:i + batch_size])
               for i in range(0, len(s_idx), batch_size)]
        return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.float32)

    def sample_embeddings(self) -> np.ndarray:
        return self.net.samples.weight.detach().cpu().numpy().astype(np.float64)

    def gene_embeddings(self) -> np.ndarray:
        return self.net.genes.weight.detach().cpu().numpy().astype(np.float64)

    def embed_new_samples(self, values: np.ndarray, observed: np.ndarray | None = None, *, epochs: int, lr: float,
                          batch_size: int, gen: torch.Generator) -> np.ndarray:
        """Embeddings of new samples (rows of `values`, the same genes, same scale as training):
        the network and gene embeddings frozen, only the new samples' table optimised on their
        observed entries. Each new sample starts at the trained sample embedding whose predicted
        profile is closest to it on its observed genes (the model's own reconstruction, so no
        label and no raw-space neighbour is used), then gradient steps refine it."""
        data = PairData(values, observed, batch_size=batch_size, device=self.device)
        params = list(self.net.parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        self.net.eval()
        try:
            table = nn.Embedding(data.n_samples, self.net.samples.embedding_dim).to(self.device)
            with torch.no_grad():
                table.weight.copy_(self._closest_start(values, observed))
            opt = _optimiser(self.cfg.get("optimiser", "rmsprop"), table.parameters(), lr)
            for _ in range(epochs):
                for s, g, y in data.batches(gen):
                    loss = torch.mean((self.net.head(table(s), g) - y) ** 2)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        finally:
            for p, f in zip(params, flags):
                p.requires_grad_(f)
        return table.weight.detach().cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def reconstruct(self, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted profiles (samples x genes) of a sample-embedding table (default: the trained one)."""
        table = self.net.samples.weight if sample_weight is None else sample_weight.to(self.device)
        n_genes = self.net.genes.num_embeddings
        genes = torch.arange(n_genes, device=self.device)
        rows = [self.net.head(table[i].expand(n_genes, -1), genes) for i in range(table.shape[0])]
        return torch.stack(rows) if rows else torch.zeros(0, n_genes)

    @torch.no_grad()
    def _closest_start(self, values: np.ndarray, observed: np.ndarray | None) -> torch.Tensor:
        """For each new sample, the candidate embedding (each trained sample embedding and their
        mean) whose predicted profile has the lowest squared error on the sample's observed genes."""
        trained = self.net.samples.weight.detach()
        cand = torch.cat([trained, trained.mean(0, keepdim=True)])
        pred = self.reconstruct(cand)  # candidates x genes
        x = np.asarray(values, dtype=np.float32)
        obs = np.isfinite(x) if observed is None else (np.asarray(observed, dtype=bool) & np.isfinite(x))
        m = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        xt = torch.as_tensor(np.where(obs, x, 0.0), dtype=torch.float32, device=self.device)
        err = (xt ** 2).sum(1, keepdim=True) - 2 * xt @ pred.T + m @ (pred ** 2).T  # new x candidates
        return cand[torch.argmin(err, dim=1)].clone()


def mask_entries(observed: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of `fraction` of the observed entries, drawn at random (at least one per
    nonzero fraction)."""
    flat = np.flatnonzero(np.asarray(observed, dtype=bool).reshape(-1))
    if fraction <= 0 or len(flat) == 0:
        return np.zeros(0, dtype=np.int64)
    n = max(1, int(math.floor(fraction * len(flat))))
    return np.sort(rng.choice(flat, size=n, replace=False))
