"""Factorized embeddings (issue 11; gexflow.models.embedding and gexflow.embedding): pair batching,
the masking protocol, training on the training rows only, new samples embedded with a frozen
network, the saved state restored, and real missing values imputed. (Their scores:
tests/unit/test_metrics.py; the stage entry points: tests/unit/test_stage_faults.py.) Small synthetic
matrices only (named synthetic_*); the real data run in the workflow."""

import numpy as np
import torch

from gexflow import embedding
from gexflow.models.training import Trainer

from conftest import synthetic_matrix

torch.set_num_threads(1)

CFG = {"sample_dim": 2, "gene_dim": 4, "hidden": [8], "activation": "tanh", "optimiser": "adam", "lr": 0.05,
       "batch_size": 7, "init_sd": 0.1}




def test_pair_batches_visit_every_observed_pair_once_and_masked_never():
    from gexflow.models.embedding import PairData

    synthetic_values, _ = synthetic_matrix(9, 5)
    synthetic_values[2, 3] = np.nan  # a real missing value: never observed
    observed = np.ones_like(synthetic_values, dtype=bool)
    observed[[0, 4, 8], [1, 1, 4]] = False  # masked entries
    data = PairData(synthetic_values, observed, batch_size=4)
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):  # two epochs, each a fresh permutation
        seen = []
        for s, g, y in data.batches(gen):
            assert len(s) <= 4
            seen.append(s.numpy() * 5 + g.numpy())
            np.testing.assert_allclose(y.numpy(), synthetic_values[s.numpy(), g.numpy()].astype(np.float32))
        seen = np.concatenate(seen)
        expected = np.flatnonzero((observed & np.isfinite(synthetic_values)).reshape(-1))
        assert len(seen) == len(np.unique(seen)) == len(expected)  # each observed pair exactly once
        np.testing.assert_array_equal(np.sort(seen), expected)
        assert not set(seen) & {0 * 5 + 1, 4 * 5 + 1, 8 * 5 + 4, 2 * 5 + 3}


def test_mask_entries_fraction_of_observed():
    from gexflow.models.embedding import mask_entries

    observed = np.ones((10, 10), dtype=bool)
    observed[0] = False
    m = mask_entries(observed, 0.1, np.random.default_rng(0))
    assert len(m) == 9 and len(np.unique(m)) == 9 and observed.reshape(-1)[m].all()


def _trained(seed=0, epochs=5):
    from gexflow.models.embedding import FactorizedEmbedding, PairData

    synthetic_values, groups = synthetic_matrix()
    torch.manual_seed(seed)
    model = FactorizedEmbedding(20, synthetic_values.shape[1], dict(CFG), "cpu")
    gen = torch.Generator().manual_seed(seed)
    data = PairData(synthetic_values[:20], batch_size=CFG["batch_size"])
    losses = [model.train_epoch(data, gen, e)["mse"] for e in range(epochs)]
    return model, synthetic_values, groups, losses


def test_training_lowers_the_loss():
    _, _, _, losses = _trained(epochs=8)
    assert losses[-1] < losses[0]


def test_embed_new_samples_moves_only_the_new_embeddings():
    model, synthetic_values, _, _ = _trained()
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    new = synthetic_values[20:]
    start = model._closest_start(new, None).numpy()
    emb = model.embed_new_samples(new, epochs=3, lr=0.05, batch_size=7, gen=torch.Generator().manual_seed(3))
    after = model.net.state_dict()
    for k in before:  # network, gene and training-sample embeddings unchanged
        assert torch.equal(before[k], after[k]), k
    assert all(p.requires_grad for p in model.net.parameters())  # flags restored
    assert emb.shape == (10, 2)
    assert np.abs(emb - start).max() > 1e-4  # the new embeddings moved


def test_embed_new_samples_lowers_their_reconstruction_error():
    model, synthetic_values, _, _ = _trained(epochs=15)
    new = synthetic_values[20:]
    g = np.tile(np.arange(new.shape[1]), len(new))
    s = np.repeat(np.arange(len(new)), new.shape[1])

    def err(table):
        return np.mean((model.predict(s, g, torch.as_tensor(table, dtype=torch.float32)) - new.reshape(-1)) ** 2)

    start = model._closest_start(new, None).numpy()
    emb = model.embed_new_samples(new, epochs=10, lr=0.05, batch_size=7, gen=torch.Generator().manual_seed(3))
    assert err(emb) < err(start)


LOOP = {"eval_every": 1, "checkpoint_every": 10, "patience": 0}
FIT_CFG = {**CFG, "epochs": 3, "scale": "log2", "mask_fraction": 0.1, "new_sample_epochs": 2, "new_sample_lr": 0.05}


def train_embedding(X, split, cfg, seed):
    """gexflow.embedding.train_embedding in memory (no checkpoints), on the CPU."""
    return embedding.train_embedding(X, split, cfg, seed=seed, trainer=Trainer(loop=LOOP, device="cpu"))


def test_train_embedding_on_training_rows_only():
    synthetic_values, _ = synthetic_matrix(30, 12)
    split = (np.arange(18), np.arange(18, 24), np.arange(24, 30))
    cfg = FIT_CFG
    r = train_embedding(synthetic_values, split, cfg, seed=1)
    assert r["samples"].shape == (30, 2) and r["genes"].shape == (12, 4)
    e = r["entries"]
    assert set(e["row"]) <= set(range(18))  # masked entries come from training samples
    assert len(e) == int(0.1 * 18 * 12) and set(e["role"]) == {"val", "test"}
    np.testing.assert_allclose(e["value"], synthetic_values[e["row"], e["col"]])
    # scrambling the held-out samples' expression leaves the training part untouched
    scrambled = synthetic_values.copy()
    scrambled[18:] = np.random.default_rng(5).normal(size=(12, 12))
    r2 = train_embedding(scrambled, split, cfg, seed=1)
    np.testing.assert_array_equal(r["samples"][:18], r2["samples"][:18])
    np.testing.assert_array_equal(r["genes"], r2["genes"])

    assert r["card"]["n_train"] == 18 and r["card"]["n_masked_entries"] == len(e)
    assert set(r["state"]["held_out_rows"]) == set(range(18, 30))


def test_mask_protocol_halves_the_masked_entries_between_validation_and_test():
    observed = np.ones((20, 10), dtype=bool)
    observed[3, 4] = False  # a real missing value is never masked
    trainable, masked, val, test = embedding.mask_protocol(observed, 0.2, seed=1)
    assert len(masked) == int(0.2 * 199) == 39 and 3 * 10 + 4 not in masked  # 20 % of the observed entries
    assert len(val) == 19 and len(test) == 20 and not set(val) & set(test) and set(val) | set(test) == set(masked)
    assert trainable.sum() == observed.sum() - 39 and not trainable.reshape(-1)[masked].any()
    again = embedding.mask_protocol(observed, 0.2, seed=1)
    np.testing.assert_array_equal(again[1], masked)  # reproducible from the seed


def test_roles_and_the_restored_model_predict_as_trained():
    synthetic_values, _ = synthetic_matrix(30, 12)
    split = (np.arange(18), np.arange(18, 24), np.arange(24, 30))
    assert list(embedding.roles(30, split)[[0, 18, 29]]) == ["train", "val", "test"]
    r = train_embedding(synthetic_values, split, FIT_CFG, seed=2)
    model = embedding.restore_model(r["state"])
    e = r["entries"]
    scale = r["state"]["scale"]
    rows = np.searchsorted(split[0], e["row"].to_numpy())
    pred = model.predict(rows, e["col"].to_numpy()) * np.asarray(scale["sd"])[e["col"]] + \
        np.asarray(scale["mean"])[e["col"]]
    np.testing.assert_allclose(pred, e["factorized"], rtol=1e-5, atol=1e-5)


def test_impute_real_missing_fills_only_the_missing_values():
    synthetic_values, _ = synthetic_matrix(24, 8)
    X, G = np.abs(synthetic_values[:, :6]), np.abs(synthetic_values[:, 6:])
    G[[1, 5], 0] = np.nan
    G[9, 1] = np.nan
    cfg = {**FIT_CFG, "epochs": 2, "new_sample_epochs": 1}
    filled, card = embedding.impute_real_missing(X, G, cfg, seed=1, trainer=Trainer(loop=LOOP, device="cpu"))
    observed = ~np.isnan(G)
    np.testing.assert_array_equal(filled[observed], G[observed])
    assert np.isfinite(filled).all() and (filled >= 0).all()
    assert card["n_train"] == 24 and card["n_val"] == card["n_test"] == 0  # every sample's observed entries
