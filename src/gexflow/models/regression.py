"""Landmark -> target regressors (the L1000 idea): least squares (the LINCS baseline), ridge with
alpha chosen on validation, KNN with k chosen on validation, a D-GEX-style MLP trained in the one
training loop (MSE or the zero-aware weighted MSE of the single-cell landmark paper), and a
group-lasso MLP over all genes whose first-layer column norms rank genes as learned landmarks.

Everything here works on per-gene z-scores fitted on the training split (the caller's ZScore);
validation data choose alpha / k / the checkpoint; test data are never passed in.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger("gexflow.models.regression")


# ----------------------------------------------------------------------------------- linear family
def least_squares(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Ordinary least squares with an intercept (numpy lstsq: the minimum-norm solution when
    there are fewer samples than landmarks, i.e. an interpolating, under-determined fit).
    Returns (coef landmarks x targets, intercept, info)."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    coef, _, rank, _ = np.linalg.lstsq(X - xm, Y - ym, rcond=None)
    info = {"rank": int(rank), "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
            "underdetermined": bool(rank < X.shape[1])}
    return coef, ym - xm @ coef, info


def ridge_path(X: np.ndarray, Y: np.ndarray, alphas) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ridge solutions (coef, intercept) for every alpha from one SVD of the centred training data
    (the objective ||Y - XW - b||^2 + alpha ||W||^2, intercept unpenalised, as sklearn's Ridge)."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    U, s, Vt = np.linalg.svd(X - xm, full_matrices=False)
    UtY = U.T @ (Y - ym)
    out = []
    for a in alphas:
        coef = Vt.T @ ((s / (s ** 2 + a))[:, None] * UtY)
        out.append((coef, ym - xm @ coef))
    return out


def mae(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.mean(np.abs(A - B)))


def ridge_on_validation(Xtr, Ytr, Xval, Yval, alphas) -> tuple[np.ndarray, np.ndarray, float, list[dict]]:
    """Ridge with the alpha of lowest validation MAE. Returns (coef, intercept, alpha, path)."""
    sols = ridge_path(Xtr, Ytr, alphas)
    path = [{"alpha": float(a), "val_mae": mae(Xval @ c + b, Yval)} for a, (c, b) in zip(alphas, sols)]
    best = int(np.argmin([p["val_mae"] for p in path]))
    if best in (0, len(alphas) - 1) and len(alphas) > 1:
        log.warning("ridge: the chosen alpha %g is at the edge of the grid; widen `alphas`", alphas[best])
    return sols[best][0], sols[best][1], float(alphas[best]), path


class KNNRegressor:
    """Mean of the k nearest training samples (Euclidean on landmark z-scores), k from `ks`
    chosen on validation MAE. Ties broken by training order (stable sort)."""

    def __init__(self, ks):
        self.ks = sorted(int(k) for k in ks)
        self.k = self.ks[0]

    def fit(self, Xtr, Ytr, Xval=None, Yval=None) -> "KNNRegressor":
        self.Xtr, self.Ytr = np.asarray(Xtr), np.asarray(Ytr)
        self.ks = [k for k in self.ks if k <= len(self.Xtr)] or [len(self.Xtr)]
        self.path = []
        if Xval is not None and len(self.ks) > 1:
            order = self._order(Xval)
            for k in self.ks:
                self.path.append({"k": k, "val_mae": mae(self.Ytr[order[:, :k]].mean(axis=1), Yval)})
            self.k = self.path[int(np.argmin([p["val_mae"] for p in self.path]))]["k"]
        else:
            self.k = self.ks[0]
        return self

    def _order(self, X) -> np.ndarray:
        d = (X ** 2).sum(1)[:, None] - 2 * X @ self.Xtr.T + (self.Xtr ** 2).sum(1)[None, :]
        return np.argsort(d, axis=1, kind="stable")[:, : max(self.ks)]

    def predict(self, X) -> np.ndarray:
        return self.Ytr[self._order(X)[:, : self.k]].mean(axis=1)


class LeastSquares:
    """The LINCS baseline (Subramanian et al. 2017): ordinary least squares with an intercept,
    minimum-norm when under-determined. Built from the registry as `LeastSquares(settings)`."""

    def __init__(self, cfg: dict | None = None):
        self.coef = self.intercept = None

    def fit(self, Xtr, Ytr, Xval, Yval) -> dict:
        self.coef, self.intercept, info = least_squares(Xtr, Ytr)
        if info["underdetermined"]:
            log.warning("least squares is under-determined (%d training samples, %d landmarks, rank %d): numpy "
                        "returns the minimum-norm interpolating solution", *Xtr.shape, info["rank"])
        return {"least_squares": info, "validation": {"mae": mae(self.predict(Xval), Yval)}}

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef + self.intercept

    def state(self) -> dict:
        return {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_state(cls, state: dict):
        self = cls.__new__(cls)
        self.coef, self.intercept = (np.asarray(state[k], dtype=np.float64) for k in ("coef", "intercept"))
        return self


class Ridge(LeastSquares):
    """Ridge regression with the alpha of lowest validation MAE among `alphas`."""

    def __init__(self, cfg: dict):
        super().__init__(cfg)
        self.alphas = list(cfg["alphas"])

    def fit(self, Xtr, Ytr, Xval, Yval) -> dict:
        self.coef, self.intercept, alpha, path = ridge_on_validation(Xtr, Ytr, Xval, Yval, self.alphas)
        return {"chosen": {"alpha": alpha}, "validation_path": path,
                "validation": {"mae": min(p["val_mae"] for p in path)}}


class KNN:
    """KNNRegressor with k chosen on validation MAE among `ks`."""

    def __init__(self, cfg: dict):
        self.knn = KNNRegressor(cfg["ks"])

    def fit(self, Xtr, Ytr, Xval, Yval) -> dict:
        self.knn.fit(Xtr, Ytr, Xval, Yval)
        return {"chosen": {"k": self.knn.k}, "validation_path": self.knn.path,
                "validation": {"mae": mae(self.knn.predict(Xval), Yval)}}

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.knn.predict(X)

    def state(self) -> dict:
        return {"x": self.knn.Xtr.astype(np.float32), "y": self.knn.Ytr.astype(np.float32), "k": self.knn.k}

    @classmethod
    def from_state(cls, state: dict) -> "KNN":
        self = cls.__new__(cls)
        self.knn = KNNRegressor([int(state["k"])]).fit(np.asarray(state["x"], dtype=np.float64),
                                                       np.asarray(state["y"], dtype=np.float64))
        return self


# ------------------------------------------------------------------------------- losses, prox step
def weighted_mse(pred, target, weight=None):
    """The zero-aware loss of the single-cell landmark paper: mean of (y + 1) * (pred - target)^2,
    with y the target on log2(x + 1) (>= 0), so zeros keep weight 1 instead of vanishing
    (DeepImpute's y * (pred - target)^2 would ignore them). `weight` = y + 1; None = plain MSE."""
    sq = (pred - target) ** 2
    return sq.mean() if weight is None else (weight * sq).mean()


def group_lasso_prox(W, threshold: float):
    """Proximal operator of threshold * sum_g ||W[:, g]||_2 (one group per input column, i.e. per
    input gene of a first layer W: out x in): each column shrinks towards zero by `threshold` in
    Euclidean norm and is exactly zero when its norm is below it. Works on numpy arrays and on
    torch tensors (in place for tensors)."""
    try:
        import torch

        if isinstance(W, torch.Tensor):
            norms = W.norm(dim=0, keepdim=True)
            W.mul_(torch.clamp(1 - threshold / torch.clamp(norms, min=1e-12), min=0.0))
            return W
    except ImportError:  # pragma: no cover
        pass
    norms = np.linalg.norm(W, axis=0, keepdims=True)
    return W * np.clip(1 - threshold / np.maximum(norms, 1e-12), 0.0, None)


def multitask_group_lasso(X: np.ndarray, Y: np.ndarray, alpha: float, *, iters: int = 5000,
                          tol: float = 1e-10) -> np.ndarray:
    """The linear special case of the learned-landmark model, solved by FISTA with
    `group_lasso_prox`: minimise (1 / 2n) ||Y - X B||_F^2 + alpha * sum_g ||B[g, :]||_2 (B:
    features x targets; scikit-learn's MultiTaskLasso objective, no intercept). Returns B."""
    n = X.shape[0]
    L = np.linalg.norm(X, 2) ** 2 / n  # Lipschitz constant of the smooth part's gradient
    B = np.zeros((X.shape[1], Y.shape[1]))
    Z, t = B.copy(), 1.0
    for _ in range(iters):
        grad = X.T @ (X @ Z - Y) / n
        # Groups are rows of B = columns of B.T (the out x in layout of a first layer).
        B_new = group_lasso_prox((Z - grad / L).T, alpha / L).T
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        Z = B_new + (t - 1) / t_new * (B_new - B)
        if np.max(np.abs(B_new - B)) < tol:
            B = B_new
            break
        B, t = B_new, t_new
    return B


# ------------------------------------------------------------------------------------- torch models
def _optimiser(params, cfg: dict):
    import torch

    name = cfg.get("optimiser", "adam")
    wd = float(cfg.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg.get("momentum", 0.9), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=wd)
    return torch.optim.Adam(params, lr=cfg["lr"], weight_decay=wd)


def scheduled_lr(cfg: dict, epoch: int) -> float:
    """Learning rate of `epoch` (1-based) under cfg['lr_schedule']: none, or cosine decay to
    lr * 0.01 over cfg['epochs'] (a pure function of the epoch, so resume is exact)."""
    if cfg.get("lr_schedule", "none") == "cosine":
        frac = (epoch - 1) / max(1, cfg["epochs"])
        return cfg["lr"] * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
    return cfg["lr"]


def mlp(n_in: int, n_out: int, hidden, activation: str = "tanh", dropout: float = 0.0):
    """D-GEX's network: hidden layers (tanh or ReLU, dropout after each), linear output; built by
    the shared layers.mlp."""
    import torch.nn as nn

    from gexflow.models.layers import mlp as build

    return build([n_in, *hidden, n_out], activation={"tanh": nn.Tanh, "relu": nn.ReLU}[activation], dropout=dropout)


class RegressionData:
    """Training tensors on the device: inputs x, targets y (z-scores) and per-entry loss weights
    (log2 target + 1) or None."""

    def __init__(self, x, y, w=None):
        self.x, self.y, self.w = x, y, w

    def __len__(self) -> int:
        return self.x.shape[0]


class DGEXRegressor:
    """A D-GEX-style MLP (landmarks -> targets) for `models.training.fit`. cfg: hidden (widths),
    activation, dropout, optimiser (adam | adamw | sgd), lr, momentum, weight_decay, lr_schedule,
    batch_size, loss (mse | weighted_mse), epochs."""

    def __init__(self, n_in: int, n_out: int, cfg: dict, device):
        import torch

        self.cfg, self.device = cfg, device
        self.net = mlp(n_in, n_out, cfg.get("hidden", [1000]), cfg.get("activation", "tanh"),
                       cfg.get("dropout", 0.0)).to(device)
        if cfg.get("base", "none") == "ridge":  # residual of ridge: start exactly at ridge's predictions
            torch.nn.init.zeros_(self.net[-1].weight)
            torch.nn.init.zeros_(self.net[-1].bias)
        self.modules = {"net": self.net}
        self.optimisers = {"opt": _optimiser(self.net.parameters(), cfg)}
        self._torch = torch

    def _step_lr(self, epoch: int) -> None:
        for g in self.optimisers["opt"].param_groups:
            g["lr"] = scheduled_lr(self.cfg, epoch)

    def train_epoch(self, data: RegressionData, gen, epoch: int) -> dict:
        torch = self._torch
        self._step_lr(epoch)
        opt, bs = self.optimisers["opt"], int(self.cfg.get("batch_size", 64))
        perm = torch.randperm(len(data), generator=gen).to(self.device)
        total, n = 0.0, 0
        p_in = float(self.cfg.get("input_dropout", 0.0))
        for i in range(0, len(data), bs):
            idx = perm[i:i + bs]
            x = data.x[idx]
            if p_in:  # masked inputs: a gene must be predicted from the others, not copied from itself
                keep = (torch.rand(x.shape, generator=gen) >= p_in).to(x.device, x.dtype)
                x = x * keep / (1 - p_in)
            pred = self.net(x)
            loss = weighted_mse(pred, data.y[idx], None if data.w is None else data.w[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.after_step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        return {"loss": total / max(n, 1)}

    def after_step(self) -> None:
        pass

    def predict(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        torch = self._torch
        self.net.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(X), batch):
                out.append(self.net(torch.as_tensor(X[i:i + batch], dtype=torch.float32,
                                                     device=self.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.net[-1].out_features))


class GroupLassoMLP(DGEXRegressor):
    """All genes -> all genes with the penalty lam * sum_g ||W1[:, g]||_2 on the first layer,
    applied as a proximal step (threshold = current lr * lam) after every optimiser step, so
    that whole input genes reach exactly zero. hidden: [] is the linear model (cf.
    `multitask_group_lasso`). Genes are ranked by their first-layer column norm."""

    def first_layer(self):
        return self.net[0]

    def after_step(self) -> None:
        lam = float(self.cfg["group_lasso"])
        lr = self.optimisers["opt"].param_groups[0]["lr"]
        with self._torch.no_grad():
            group_lasso_prox(self.first_layer().weight, lr * lam)

    def train_epoch(self, data, gen, epoch: int) -> dict:
        out = super().train_epoch(data, gen, epoch)
        W = self.first_layer().weight.detach()
        out["penalty"] = float(self.cfg["group_lasso"] * W.norm(dim=0).sum())
        out["nonzero_genes"] = float((W.norm(dim=0) > 0).sum())
        return out

    def column_norms(self) -> np.ndarray:
        return self.first_layer().weight.detach().norm(dim=0).cpu().numpy().astype(np.float64)
