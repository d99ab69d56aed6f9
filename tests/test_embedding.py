"""Factorized embeddings (issue 11): pair batching, new samples with a frozen network, the
classifier protocol, gene-neighbour enrichment, imputation MAE, and clear config errors.
Small synthetic matrices only (named synthetic_*); the real data run in the workflow."""

import copy

import numpy as np
import pytest
import torch
import yaml

from gexflow.errors import InputError

from conftest import REPO

torch.set_num_threads(1)

CFG = {"sample_dim": 2, "gene_dim": 4, "hidden": [8], "activation": "tanh", "optimiser": "adam", "lr": 0.05,
       "batch_size": 7, "init_sd": 0.1}


def synthetic_matrix(n=30, g=12, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], n // 3)
    centres = rng.normal(0, 2, size=(3, g))
    return centres[groups] + rng.normal(0, 0.3, size=(n, g)), groups.astype(str)


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


def test_train_embedding_on_training_rows_only():
    from gexflow.stages.embed import train_embedding

    synthetic_values, _ = synthetic_matrix(30, 12)
    split = (np.arange(18), np.arange(18, 24), np.arange(24, 30))
    cfg = {**CFG, "epochs": 3, "scale": "log2", "mask_fraction": 0.1, "new_sample_epochs": 2, "new_sample_lr": 0.05}
    r = train_embedding(synthetic_values, split, cfg, seed=1, device="cpu",
                        loop={"eval_every": 1, "checkpoint_every": 10, "patience": 0})
    assert r["samples"].shape == (30, 2) and r["genes"].shape == (12, 4)
    e = r["entries"]
    assert set(e["row"]) <= set(range(18))  # masked entries come from training samples
    assert len(e) == int(0.1 * 18 * 12) and set(e["role"]) == {"val", "test"}
    np.testing.assert_allclose(e["value"], synthetic_values[e["row"], e["col"]])
    # scrambling the held-out samples' expression leaves the training part untouched
    scrambled = synthetic_values.copy()
    scrambled[18:] = np.random.default_rng(5).normal(size=(12, 12))
    r2 = train_embedding(scrambled, split, cfg, seed=1, device="cpu",
                         loop={"eval_every": 1, "checkpoint_every": 10, "patience": 0})
    np.testing.assert_array_equal(r["samples"][:18], r2["samples"][:18])
    np.testing.assert_array_equal(r["genes"], r2["genes"])


def test_classifier_protocol_same_draws_and_held_out_columns():
    from gexflow.metrics.embedding import classifier_protocol, labelled_draws, summarise_classifiers

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 50)
    synthetic_separated = np.where(y[:, None] == "a", -5.0, 5.0) + rng.normal(0, 0.1, size=(100, 2))
    synthetic_noise = rng.normal(size=(100, 2))
    held = np.arange(100) % 4 == 0
    df = classifier_protocol({"sep": synthetic_separated, "noise": synthetic_noise}, y, fractions=[0.1],
                             n_splits=3, classifiers=["1nn", "gaussian_nb", "decision_tree"], seed=1, held_out=held)
    assert len(df) == 2 * 3 * 3 and (df["n_labelled"] == 10).all()
    sep = df[df.method == "sep"]
    assert (sep["accuracy"] == 1).all() and (sep["acc_held_out"] == 1).all() and (sep["acc_train"] == 1).all()
    assert df[df.method == "noise"]["accuracy"].mean() < 0.8
    draws = labelled_draws(y, 0.1, 3, 1)
    assert all(len(np.unique(y[d])) == 2 for d in draws)
    s = summarise_classifiers(df)
    assert set(s.columns) >= {"accuracy", "accuracy_sd", "acc_train", "acc_held_out", "n_splits"}
    assert (s["n_splits"] == 3).all()


def test_every_classifier_runs():
    from gexflow.metrics.embedding import CLASSIFIERS, classifier_protocol

    synthetic_values, groups = synthetic_matrix()
    df = classifier_protocol({"x": synthetic_values}, groups, fractions=[0.3], n_splits=1, classifiers=CLASSIFIERS,
                             seed=0, settings={"forest_trees": 5, "mlp_iterations": 20})
    assert list(df["classifier"]) == list(CLASSIFIERS)


def test_neighbour_enrichment_ratio_and_permutation_p():
    from gexflow.metrics.embedding import neighbour_enrichment

    rng = np.random.default_rng(0)
    pathway = np.repeat(np.arange(6), 5)
    relation = pathway[:, None] == pathway[None, :]
    synthetic_genes = pathway[:, None] * 10.0 + rng.normal(0, 0.1, size=(30, 2))
    r = neighbour_enrichment(synthetic_genes, relation, k=4, permutations=50, seed=1)
    assert r["observed"] == 1.0 and r["expected"] == pytest.approx(4 / 29)
    assert r["ratio"] == pytest.approx(29 / 4) and r["p_value"] == pytest.approx(1 / 51)
    r0 = neighbour_enrichment(rng.normal(size=(30, 2)), relation, k=4, permutations=50, seed=1)
    assert r0["p_value"] > 0.05


def test_kegg_relation_and_imputation_mae():
    import pandas as pd

    from gexflow.metrics.embedding import imputation_mae, kegg_relation

    kegg = pd.DataFrame({"pathway_id": ["p1", "p1", "p2"], "entrez_id": ["1", "2", "3"], "symbol": ["A", "B", "C"]})
    rel, annotated = kegg_relation(["1", "2", "3", "9"], ["A", "B", "C", "Z"], kegg)
    assert rel[0, 1] and not rel[0, 2] and list(annotated) == [True, True, True, False]
    synthetic_values, _ = synthetic_matrix(12, 4)
    rows, cols = np.array([0, 5]), np.array([1, 2])
    masked = synthetic_values.copy()
    masked[rows, cols] = np.nan
    truth = synthetic_values[rows, cols]
    out = imputation_mae(masked, truth, rows, cols, {"perfect": truth, "off": truth + 1}, knn_neighbours=3)
    mae = dict(zip(out["method"], out["mae"]))
    assert mae["perfect"] == 0 and mae["off"] == pytest.approx(1)
    assert mae["gene_mean"] == pytest.approx(np.mean(np.abs(np.nanmean(masked, 0)[cols] - truth)))
    assert "knn_imputer" in mae


# ------------------------------------------------------------------------------------ bad config
def _default_config():
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))
    return cfg


def test_embedding_size_zero_is_a_clear_error():
    from gexflow.config import check_config

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["embed"]["experiments"]["pancan11_fe"]["sizes"] = [0, 16]
    with pytest.raises(InputError) as e:
        check_config(cfg, REPO / "workflow/schemas/config.schema.yaml", "my.yaml")
    msg = str(e.value)
    assert "my.yaml" in msg and "embed.experiments.pancan11_fe.sizes" in msg and ">= 1" in msg
    assert "\n" not in msg


def test_missing_label_column_is_a_clear_error(monkeypatch):
    from gexflow.config import check_datasets

    monkeypatch.chdir(REPO)
    cfg = _default_config()
    bad = copy.deepcopy(cfg)
    bad["embed"]["experiments"]["pancan11_fe"]["labels"]["cohort"] = "tumour_site"
    with pytest.raises(InputError) as e:
        check_datasets(bad, "my.yaml")
    msg = str(e.value)
    assert "embed.experiments.pancan11_fe.labels.cohort" in msg and "tumour_site" in msg and "cohort" in msg
    bad = copy.deepcopy(cfg)
    bad["embed"]["experiments"]["gtex26_fe"]["genes"] = "no_such_set"
    with pytest.raises(InputError, match="embed.experiments.gtex26_fe.genes"):
        check_datasets(bad, "my.yaml")
    check_datasets(cfg, "my.yaml")  # the default passes


def test_impute_missing_fills_only_the_missing_entries(tmp_path):
    import json

    import anndata as ad
    import pandas as pd

    from gexflow.stages.embed import impute_missing_stage

    synthetic_values, groups = synthetic_matrix(24, 8)
    synthetic_values = np.abs(synthetic_values)
    samples = [f"synthetic_s{i}" for i in range(24)]
    genes = [f"synthetic_g{j}" for j in range(8)]
    obs = pd.DataFrame({"cohort": groups}, index=samples)
    ad.AnnData(X=synthetic_values[:, :6].astype(np.float32), obs=obs,
               var=pd.DataFrame({"symbol": genes[:6]}, index=genes[:6])).write_h5ad(tmp_path / "filtered.h5ad")
    raw = pd.DataFrame(synthetic_values.T, index=genes, columns=samples)  # log2p1 scale, genes x samples
    raw.iloc[6, [1, 5]] = np.nan
    raw.iloc[7, 9] = np.nan
    raw.index.name = "gene_symbol"
    raw.to_csv(tmp_path / "expression.tsv.gz", sep="\t")
    out = {"values": tmp_path / "imputed.tsv.gz", "card": tmp_path / "card.json"}
    cfg = {**CFG, "epochs": 2, "scale": "log2", "mask_fraction": 0.1, "new_sample_epochs": 1, "new_sample_lr": 0.05}
    impute_missing_stage({"h5ad": tmp_path / "filtered.h5ad", "expression": tmp_path / "expression.tsv.gz"},
                         exp_name="synthetic", exp={"dataset": "synthetic"}, ds={"scale": "log2p1"}, size=2, cfg=cfg,
                         seed=1, device="cpu", loop={"eval_every": 1, "checkpoint_every": 5, "patience": 0},
                         outputs=out, threads=1)
    table = pd.read_csv(out["values"], sep="\t")
    assert len(table) == 24 * 2 and table["imputed"].sum() == 3
    kept = table[~table["imputed"]]
    truth = raw.loc[kept["gene_id"]].to_numpy()[np.arange(len(kept)), [samples.index(s) for s in kept["sample_id"]]]
    np.testing.assert_allclose(kept["log2p1"], truth)
    assert table.loc[table["imputed"], "log2p1"].notna().all()
    card = json.loads(out["card"].read_text())
    assert card["n_missing_values"] == 3 and card["n_genes_with_missing"] == 2 and card["samples_with_missing"] == 3
