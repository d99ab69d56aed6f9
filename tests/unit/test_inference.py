"""Landmark -> target inference (issue 10): the weighted loss and the group-lasso proximal step on
known cases, the linear special case against scikit-learn's MultiTaskLasso, the regressors
against scikit-learn (and through their saved state), split hygiene on real data (no test row
reaches standardisation, ranking or any choice), the saved bundle, landmarks aligned to a user's
matrix, and clear errors. (Regression metrics: test_metrics.py; predict_targets: test_stages.py.)"""


import numpy as np
import pandas as pd
import pytest
import torch

from gexflow import inference as I
from gexflow.errors import InputError
from gexflow.filtering import ZScore, to_log2p1
from gexflow.io import write_tsv
from gexflow.models import regression as R
from gexflow.models.training import Trainer
from gexflow.splits import fold_splits

from conftest import KIRC_SAMPLES, KIRC_SUBSET, REPO

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


def trainer():
    """The loop as a training job runs it, in memory (no checkpoints), on the CPU."""
    return Trainer(loop={"eval_every": 1, "patience": 0}, device="cpu", device_field="infer.device")


LEARNED_CFG = {"epochs": 3, "hidden": [8], "lr": 1e-2, "group_lasso": 0.01, "batch_size": 16}


def _fit_all(X, landmarks, split, max_targets=100):
    train, val = split.train, split.val
    targets = I.candidate_targets(X, train, landmarks, max_targets)
    zi, zt = ZScore.fit(X[train][:, landmarks]), ZScore.fit(X[train][:, targets])
    out = {"targets": targets, "zi": zi.mean.copy(), "zt": zt.sd.copy()}
    for m, cfg in MODELS_CFG.items():
        state, card, _ = I.fit_regressor(m, cfg, zi.transform(X[train][:, landmarks]),
                                         zt.transform(X[train][:, targets]), zi.transform(X[val][:, landmarks]),
                                         zt.transform(X[val][:, targets]), Ytr_log2=X[train][:, targets], seed=5,
                                         trainer=trainer())
        out[m] = (I.predict_z(state, zi.transform(X[val][:, landmarks])), card.get("chosen"), card["validation"])
    learned, norms, _, _ = I.learn_landmarks(X, train, val, np.sort(np.concatenate([landmarks, targets])), 10,
                                             LEARNED_CFG, seed=3, trainer=trainer())
    out["learned"] = (learned, norms)
    pool, genes, set_norms, card, _ = I.learn_landmark_set(X, train, val, landmarks, max_targets,
                                                           {**LEARNED_CFG, "group_lasso": [0.01, 0.1]}, seed=3,
                                                           trainer=trainer())
    out["learned_set"] = (pool, genes, set_norms, card["lambda_path"], card["chosen"])
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
    for x, y in zip(a["learned_set"], b["learned_set"]):  # the lambda is chosen on validation rows only
        np.testing.assert_array_equal(x, y) if isinstance(x, np.ndarray) else None
        assert isinstance(x, np.ndarray) or x == y


def test_landmarks_absent_from_data_is_a_clear_error(tmp_path, kirc):
    _, _, _, genes = kirc
    var = pd.DataFrame(index=genes)
    bad = tmp_path / "genes.tsv"
    write_tsv(pd.DataFrame({"gene_id": ["NOT_A_GENE_1", genes[0]], "symbol": ["x", "y"], "source": "l1000"}), bad)
    with pytest.raises(InputError, match=r"genes.tsv: field 'gene_id': 1 landmarks are not genes.*NOT_A_GENE_1"):
        I.gene_indices(var, bad)


def test_registered_regressors_round_trip_through_their_state():
    """LeastSquares, Ridge and KNN (cfg) fit on z-scores, choose alpha / k on validation, and
    predict the same from their saved (plain-data) state."""
    from gexflow.models.registry import model_class

    rng = np.random.default_rng(4)
    X, W = rng.normal(size=(60, 5)), rng.normal(size=(5, 3))
    Y = X @ W + 0.1 * rng.normal(size=(60, 3))
    for name in ("linear", "ridge", "knn"):
        reg = model_class(name)(MODELS_CFG[name])
        card = reg.fit(X[:40], Y[:40], X[40:50], Y[40:50])
        assert "mae" in card["validation"], name
        back = model_class(name).from_state(reg.state())
        tol = 1e-6 if name == "knn" else 1e-12  # KNN keeps its training rows as float32
        np.testing.assert_allclose(back.predict(X[50:]), reg.predict(X[50:]), rtol=tol, atol=tol)
    ridge = model_class("ridge")(MODELS_CFG["ridge"])
    card = ridge.fit(X[:40], Y[:40], X[40:50], Y[40:50])
    assert card["chosen"]["alpha"] in MODELS_CFG["ridge"]["alphas"]


def test_fit_regressor_refuses_an_unknown_model():
    with pytest.raises(InputError, match="field 'infer.models': unknown model 'gan'"):
        I.fit_regressor("gan", {}, np.zeros((4, 2)), np.zeros((4, 2)), np.zeros((2, 2)), np.zeros((2, 2)), seed=0,
                        trainer=trainer())


def test_fold_genes_share_targets_between_landmark_sets(tmp_path, kirc):
    """With learned landmarks, both sets predict the candidates in neither set."""
    X, landmarks, split, genes = kirc
    var = pd.DataFrame({"symbol": genes}, index=genes)
    lm_file, learned_file = tmp_path / "lm.tsv", tmp_path / "learned.tsv"
    write_tsv(pd.DataFrame({"gene_id": genes[landmarks], "symbol": genes[landmarks], "source": "l1000"}), lm_file)
    candidates = I.candidate_targets(X, split.train, landmarks, 50)
    learned = candidates[:len(landmarks)]
    write_tsv(pd.DataFrame({"gene_id": genes[learned], "symbol": genes[learned], "source": "learned"}), learned_file)
    ins_a, t_a = I.fold_genes(X, var, split.train, lm_file, learned_file, "landmarks", 50)
    ins_b, t_b = I.fold_genes(X, var, split.train, lm_file, learned_file, "learned", 50)
    np.testing.assert_array_equal(ins_a, landmarks)
    np.testing.assert_array_equal(np.sort(ins_b), np.sort(learned))
    np.testing.assert_array_equal(t_a, t_b)
    assert not set(t_a) & (set(landmarks) | set(learned)) and set(t_a) <= set(candidates)
    few = I.candidate_targets(X, split.train, landmarks, 5)  # learned = every candidate: no target left
    write_tsv(pd.DataFrame({"gene_id": genes[few], "symbol": genes[few], "source": "learned"}), learned_file)
    with pytest.raises(InputError, match="max_targets.*no target gene left"):
        I.fold_genes(X, var, split.train, lm_file, learned_file, "landmarks", 5)


def test_bundle_predicts_log2_targets_and_aligns_a_users_landmarks(kirc):
    X, landmarks, split, genes = kirc
    var = pd.DataFrame({"symbol": [f"S_{g}" for g in genes]}, index=genes)
    targets = I.candidate_targets(X, split.train, landmarks, 30)
    zi, zt = ZScore.fit(X[split.train][:, landmarks]), ZScore.fit(X[split.train][:, targets])
    state, _, _ = I.fit_regressor("ridge", MODELS_CFG["ridge"], zi.transform(X[split.train][:, landmarks]),
                                  zt.transform(X[split.train][:, targets]), zi.transform(X[split.val][:, landmarks]),
                                  zt.transform(X[split.val][:, targets]), seed=1, trainer=trainer())
    bundle = I.model_bundle(state, var, landmarks, targets, zi, zt)
    assert bundle["inputs"] == genes[landmarks].tolist() and bundle["target_symbols"][0] == f"S_{genes[targets[0]]}"
    pred = I.predict_log2(bundle, X[split.test][:, landmarks])
    want = zt.inverse_transform(I.predict_z(state, zi.transform(X[split.test][:, landmarks])))
    np.testing.assert_allclose(pred, want)
    # a user's matrix: by gene id or by symbol, in any order; a missing landmark fails or gets its training mean
    user = pd.DataFrame(X[split.test][:, landmarks], columns=[f"S_{g}" for g in genes[landmarks]]).iloc[:, ::-1]
    out, missing = I.align_landmarks(user, bundle["inputs"], bundle["input_symbols"], zi.mean, "fail", "m.tsv")
    np.testing.assert_array_equal(out, X[split.test][:, landmarks])
    assert missing == []
    gone = user.drop(columns=[f"S_{genes[landmarks[0]]}"])
    with pytest.raises(InputError, match=r"m.tsv: field '\(gene rows\)': 1 of the model's .* landmarks are missing"):
        I.align_landmarks(gone, bundle["inputs"], bundle["input_symbols"], zi.mean, "fail", "m.tsv")
    out, missing = I.align_landmarks(gone, bundle["inputs"], bundle["input_symbols"], zi.mean, "impute", "m.tsv")
    assert missing == [f"S_{genes[landmarks[0]]}"] and (out[:, 0] == zi.mean[0]).all()

