"""Landmark -> target inference (issue 10): the weighted loss and the group-lasso proximal step on
known cases, the linear special case against scikit-learn's MultiTaskLasso, the regressors and the
metrics against scikit-learn/scipy, split hygiene on real data, and clear errors without partial
output for a bad configuration or an input that lacks landmarks."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gexflow.errors import InputError
from gexflow.filtering import to_log2p1
from gexflow.metrics import regression as M
from gexflow.models import regression as R
from gexflow.splits import fold_splits
from gexflow.stages import infer as I

from conftest import DATA, KIRC_SAMPLES, KIRC_SUBSET, REPO

torch.set_num_threads(1)


# ------------------------------------------------------------------------------ loss and prox step
def test_weighted_mse_known_case():
    pred = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    y_log2 = torch.tensor([[3.0, 1.0], [0.0, 0.0]])  # zeros keep weight 1
    # (3+1)*1 + (1+1)*0 + (0+1)*4 + (0+1)*0 = 8, over 4 entries
    assert float(R.weighted_mse(pred, target, y_log2 + 1)) == pytest.approx(2.0)
    assert float(R.weighted_mse(pred, target)) == pytest.approx(5 / 4)


def test_group_lasso_prox_known_case():
    W = np.array([[3.0, 0.3, 0.0], [4.0, 0.4, 2.0]])  # column norms 5, 0.5, 2
    out = R.group_lasso_prox(W, 1.0)
    np.testing.assert_allclose(out[:, 0], [2.4, 3.2])  # shrunk by 1 in norm: 5 -> 4
    assert np.all(out[:, 1] == 0.0)  # norm below the threshold: exactly zero
    np.testing.assert_allclose(out[:, 2], [0.0, 1.0])
    t = torch.tensor(W)
    R.group_lasso_prox(t, 1.0)  # in place on a tensor
    np.testing.assert_allclose(t.numpy(), out)


def test_linear_group_lasso_matches_multitask_lasso():
    from sklearn.linear_model import MultiTaskLasso

    rng = np.random.default_rng(0)
    synthetic_X = rng.normal(size=(80, 12))
    B = np.zeros((12, 5))
    B[[0, 3, 7]] = rng.normal(size=(3, 5)) * 2
    synthetic_Y = synthetic_X @ B + 0.3 * rng.normal(size=(80, 5))
    for alpha in (0.05, 0.3):
        ours = R.multitask_group_lasso(synthetic_X, synthetic_Y, alpha, iters=20000, tol=1e-12)
        ref = MultiTaskLasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=200000).fit(synthetic_X, synthetic_Y)
        np.testing.assert_allclose(ours, ref.coef_.T, atol=1e-5)
        support = set(np.flatnonzero(np.linalg.norm(ours, axis=1)))
        assert support == set(np.flatnonzero(np.linalg.norm(ref.coef_.T, axis=1)))


def test_group_lasso_mlp_zeroes_whole_genes():
    rng = np.random.default_rng(1)
    synthetic_X = rng.normal(size=(64, 20)).astype(np.float32)
    synthetic_Y = synthetic_X[:, :3] @ rng.normal(size=(3, 5)).astype(np.float32)  # only 3 inputs matter
    cfg = {"epochs": 200, "hidden": [], "lr": 0.1, "optimiser": "sgd", "momentum": 0.0, "batch_size": 64,
           "group_lasso": 0.1, "dropout": 0.0}
    net = R.GroupLassoMLP(20, 5, cfg, torch.device("cpu"))
    data = R.RegressionData(torch.as_tensor(synthetic_X), torch.as_tensor(synthetic_Y))
    g = torch.Generator().manual_seed(0)
    for epoch in range(1, 201):
        net.train_epoch(data, g, epoch)
    norms = net.column_norms()
    assert np.all(norms[:3] > 0) and np.sum(norms[3:] == 0) >= 12  # whole input genes exactly zero


# ------------------------------------------------------------------------------ regressors, metrics
def test_regressors_match_sklearn():
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(2)
    synthetic_X, synthetic_Y = rng.normal(size=(50, 6)), rng.normal(size=(50, 4))
    coef, b, info = R.least_squares(synthetic_X, synthetic_Y)
    lr = LinearRegression().fit(synthetic_X, synthetic_Y)
    np.testing.assert_allclose(synthetic_X @ coef + b, lr.predict(synthetic_X), atol=1e-10)
    assert not info["underdetermined"]
    for alpha, (c, i) in zip([0.1, 10.0], R.ridge_path(synthetic_X, synthetic_Y, [0.1, 10.0])):
        np.testing.assert_allclose(synthetic_X @ c + i, Ridge(alpha=alpha).fit(synthetic_X, synthetic_Y)
                                   .predict(synthetic_X), atol=1e-10)
    knn = R.KNNRegressor([3]).fit(synthetic_X[:40], synthetic_Y[:40])
    ref = KNeighborsRegressor(3, algorithm="brute").fit(synthetic_X[:40], synthetic_Y[:40])
    np.testing.assert_allclose(knn.predict(synthetic_X[40:]), ref.predict(synthetic_X[40:]), atol=1e-12)
    _, _, info = R.least_squares(synthetic_X[:4], synthetic_Y[:4])  # fewer samples than landmarks
    assert info["underdetermined"]


def test_metrics_match_sklearn_and_scipy():
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    g = M.per_gene_metrics(a, b, a * 2 + 1, b * 2 + 1, list("abcde"))
    np.testing.assert_allclose(g["mae_z"], mean_absolute_error(a, b, multioutput="raw_values"))
    np.testing.assert_allclose(g["mse_z"], mean_squared_error(a, b, multioutput="raw_values"))
    np.testing.assert_allclose(g["mae_log2"], 2 * g["mae_z"])
    np.testing.assert_allclose(g["pearson_r"], [pearsonr(a[:, j], b[:, j])[0] for j in range(5)])
    assert M.share_better([1, 2, 3, 4], [2, 2, 2, 2]) == 0.25
    assert M.relative_improvement(0.32, 0.4) == pytest.approx(0.2)


# ------------------------------------------------------------------------------ real data, hygiene
@pytest.fixture(scope="module")
def kirc():
    """The real KIRC subset on log2(x+1), its landmarks (L1000 by symbol) and a real split."""
    raw = pd.read_csv(KIRC_SUBSET, sep="\t").set_index("gene_symbol")
    X = to_log2p1(raw.to_numpy().T, "log2_offset", log_offset=0.25)
    sheet = pd.read_csv(KIRC_SAMPLES, sep="\t").set_index("sample_barcode").loc[raw.columns]
    lm = pd.read_csv(REPO / "resources/genesets/l1000_landmark_genes_978.tsv", sep="\t", dtype=str)
    landmarks = np.flatnonzero(raw.index.isin(set(lm["symbol_orghs_2022"]) | set(lm["gene_symbol_lincs"])))
    split = fold_splits(sheet["condition"].to_numpy(), sheet["patient_barcode"].to_numpy(), k=3,
                        val_fraction=0.2, seed=0)[0]
    return X, landmarks, split, raw.index.astype(str)


MODELS_CFG = {"linear": {}, "ridge": {"alphas": [0.1, 1, 10, 100]}, "knn": {"ks": [1, 3, 5]},
              "dgex_mlp": {"epochs": 3, "hidden": [16], "batch_size": 16, "lr": 1e-3, "dropout": 0.1,
                           "loss": "weighted_mse", "base": "ridge_blend", "alphas": [1, 10, 100]},
              "dgex_residual": {"epochs": 3, "hidden": [16], "batch_size": 16, "lr": 1e-3, "alphas": [1, 10, 100]}}


def _fit_all(X, landmarks, split, max_targets=100):
    train, val = split.train, split.val
    targets = I.candidate_targets(X, train, landmarks, max_targets)
    zi, zt = I._zscore(X[train][:, landmarks]), I._zscore(X[train][:, targets])
    out = {"targets": targets, "zi": zi.mean.copy(), "zt": zt.sd.copy()}
    for m, cfg in MODELS_CFG.items():
        state, card, _ = I.fit_model(m, cfg, zi.transform(X[train][:, landmarks]), zt.transform(X[train][:, targets]),
                                     zi.transform(X[val][:, landmarks]), zt.transform(X[val][:, targets]),
                                     Ytr_log2=X[train][:, targets], seed=5, device="cpu",
                                     loop={"eval_every": 1, "patience": 0})
        out[m] = (I.predict_z(state, zi.transform(X[val][:, landmarks])), card.get("chosen"), card["validation"])
    learned, norms, _, _ = I.learn_landmarks(X, train, val, np.sort(np.concatenate([landmarks, targets])), 10,
                                             {"epochs": 3, "hidden": [8], "lr": 1e-2, "group_lasso": 0.01,
                                              "batch_size": 16}, seed=3, device="cpu",
                                             loop={"eval_every": 1, "patience": 0})
    out["learned"] = (learned, norms)
    return out


def test_no_test_sample_reaches_standardisation_selection_or_ranking(kirc):
    """Scrambling every test sample's expression changes nothing that is fitted or chosen: the
    z-scores, the target ranking (max_targets), alpha, k, the MLP checkpoint, the learned genes."""
    X, landmarks, split, _ = kirc
    a = _fit_all(X, landmarks, split)
    Xs = X.copy()
    Xs[split.test] = np.random.default_rng(9).permutation(Xs[split.test].ravel()).reshape(Xs[split.test].shape) * 3
    b = _fit_all(Xs, landmarks, split)
    np.testing.assert_array_equal(a["targets"], b["targets"])
    np.testing.assert_array_equal(a["zi"], b["zi"])
    np.testing.assert_array_equal(a["zt"], b["zt"])
    for m in MODELS_CFG:
        np.testing.assert_array_equal(a[m][0], b[m][0])
        assert a[m][1] == b[m][1] and a[m][2] == b[m][2]
    np.testing.assert_array_equal(a["learned"][0], b["learned"][0])
    np.testing.assert_array_equal(a["learned"][1], b["learned"][1])


def test_landmarks_absent_from_data_is_a_clear_error(tmp_path, kirc):
    _, _, _, genes = kirc
    var = pd.DataFrame(index=genes)
    bad = tmp_path / "genes.tsv"
    pd.DataFrame({"gene_id": ["NOT_A_GENE_1", genes[0]], "symbol": ["x", "y"], "source": "l1000"}).to_csv(
        bad, sep="\t", index=False)
    with pytest.raises(InputError, match=r"genes.tsv: field 'gene_id': 1 landmarks are not genes.*NOT_A_GENE_1"):
        I.gene_indices(var, bad)


def test_bad_infer_config_names_field_and_fix():
    import yaml

    from gexflow.config import check_datasets

    cfg = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
    cfg.setdefault("infer", {"run": []})
    cfg["infer"]["run"] = ["x"]
    cfg["infer"]["experiments"] = {"x": {"dataset": "kirc_subset", "landmarks": "no_such_set", "label": "condition"}}
    with pytest.raises(InputError, match=r"infer.experiments.x.landmarks.*not a set under select.sets.*Fix"):
        check_datasets(cfg, "my.yaml")


def _bundle(kirc, tmp_path, model="ridge"):
    from gexflow.models.training import save_model

    X, landmarks, split, genes = kirc
    targets = I.candidate_targets(X, split.train, landmarks, 50)
    zi, zt = I._zscore(X[split.train][:, landmarks]), I._zscore(X[split.train][:, targets])
    state, _, _ = I.fit_model(model, MODELS_CFG[model], zi.transform(X[split.train][:, landmarks]),
                              zt.transform(X[split.train][:, targets]), zi.transform(X[split.val][:, landmarks]),
                              zt.transform(X[split.val][:, targets]), seed=1, device="cpu")
    bundle = {"model": state, "inputs": genes[landmarks].tolist(), "targets": genes[targets].tolist(),
              "input_symbols": genes[landmarks].tolist(), "target_symbols": genes[targets].tolist(),
              "input_zscore": {"mean": zi.mean.tolist(), "sd": zi.sd.tolist()},
              "target_zscore": {"mean": zt.mean.tolist(), "sd": zt.sd.tolist()}}
    save_model(bundle, tmp_path / "model.pt")
    return tmp_path / "model.pt", bundle


def test_predict_input_lacking_landmarks_fails_without_output_or_imputes(tmp_path, kirc):
    model, bundle = _bundle(kirc, tmp_path)
    real = pd.read_csv(DATA / "kirp_landmarks_6samples.tsv", sep="\t")
    dropped = bundle["inputs"][:2]
    partial = tmp_path / "partial.tsv"
    real[~real["gene_symbol"].isin(dropped)].to_csv(partial, sep="\t", index=False)
    outs = {k: tmp_path / "out" / f for k, f in (("h5ad", "p.h5ad"), ("tsv", "p.tsv"), ("summary", "s.json"))}
    spec = {"matrix": str(partial), "gene_id_column": "gene_symbol", "scale": "linear", "missing_landmarks": "fail"}
    with pytest.raises(InputError, match=rf"2 of the model's {len(bundle['inputs'])} landmarks are missing: "
                                         rf"{dropped[0]}, {dropped[1]}.*missing_landmarks: impute"):
        I.predict_targets_stage(model, spec=spec, outputs=outs)
    assert not any(p.exists() for p in outs.values())  # no partial output
    I.predict_targets_stage(model, spec={**spec, "missing_landmarks": "impute"}, outputs=outs)
    summary = json.loads(outs["summary"].read_text())
    assert summary["missing_landmarks"] == 2 and summary["imputed"] == dropped and summary["samples"] == 6
    import anndata as ad

    a = ad.read_h5ad(outs["h5ad"])
    assert a.shape == (6, len(bundle["inputs"]) + len(bundle["targets"]))
    assert int(a.var["imputed_landmark"].sum()) == 2 and np.isfinite(a.X).all()
    # the full input gives the same predictions as predict_log2 on the landmarks directly
    full = tmp_path / "full.tsv"
    real.to_csv(full, sep="\t", index=False)
    I.predict_targets_stage(model, spec={**spec, "matrix": str(full)}, outputs=outs)
    b = ad.read_h5ad(outs["h5ad"])
    lm = np.log2(real.set_index("gene_symbol").loc[bundle["inputs"]].to_numpy().T + 1)
    np.testing.assert_allclose(b.X[:, len(bundle["inputs"]):], I.predict_log2(bundle, lm), rtol=1e-5, atol=1e-5)
