"""gexflow.release (and the refit/sampling half of gexflow.generation): the release choice uses
validation scores only, the privacy holdout never reaches the refit, class counts are exact or
within 1, the audit tells a copying model from a fresh one, and a release samples reproducibly.
Real data: the KIRC subset in tests/data; the copying model is a test double, named as such."""

import numpy as np
import pandas as pd
import pytest

from gexflow import release
from gexflow.errors import InputError
from gexflow.experiment import class_labels
from gexflow.generation import VALIDATION_METRIC, refit, sample_model, train_on_fold
from gexflow.io import read_expression_table
from gexflow.models.training import Trainer
from gexflow.splits import fold_splits

from conftest import KIRC_SAMPLES, KIRC_SUBSET

EXP = {"dataset": "kirc_subset", "genes": "first20", "label": "condition", "categorical": ["condition", "gender"],
       "numerical": ["age_at_diagnosis_years"]}
CVAE = {"epochs": 4, "latent_dim": 4, "hidden": [16], "dropout": 0.0, "batchnorm": False, "beta": 1.0,
        "warmup_epochs": 1, "decoder_noise": "learned", "noise_sd": 0.5, "lr": 1e-3, "weight_decay": 0.0,
        "batch_size": 32}


@pytest.fixture(scope="module")
def kirc():
    X, _ = read_expression_table(KIRC_SUBSET, "gene_symbol")
    obs = pd.read_csv(KIRC_SAMPLES, sep="\t").set_index("sample_barcode")
    X = X.loc[obs.index].to_numpy(dtype=np.float64)
    return X, obs, class_labels(obs, "condition")


def card(model, score, fold=0):
    return {"model": model, "fold": fold, "validation": {VALIDATION_METRIC: score}}


def test_choice_takes_the_best_mean_validation_score_ties_to_the_first_listed():
    cards = [card("a", 0.2), card("a", 0.4, 1), card("b", 0.3), card("b", 0.3, 1), card("c", float("nan"))]
    model, table, why = release.choose_model(cards, ["b", "a", "c"], VALIDATION_METRIC)
    assert model == "b" and "ties go to the model listed first" in why  # a and b both average 0.3
    assert release.choose_model(cards, ["a", "b", "c"], VALIDATION_METRIC)[0] == "a"
    assert release.choose_model(cards, ["a", "b"], VALIDATION_METRIC, named="b")[0] == "b"
    assert release.choose_model([card("a", 2.0), card("b", 1.0)], ["a", "b"], VALIDATION_METRIC,
                                maximise=False)[0] == "b"
    with pytest.raises(InputError, match="release.model.*not a model"):
        release.choose_model(cards, ["a", "b"], VALIDATION_METRIC, named="z")
    assert table.set_index("model").loc["a", f"mean_validation_{VALIDATION_METRIC}"] == pytest.approx(0.3)


def test_scrambling_every_test_fold_leaves_the_auto_choice_unchanged(kirc):
    X, obs, labels = kirc
    X = X[:, :20]
    splits = fold_splits(labels, obs["patient_barcode"], k=3, val_fraction=0.2, seed=0)[:2]
    trainer = Trainer(loop={"eval_every": 2, "checkpoint_every": 100, "patience": 0}, device="cpu")

    def cards_of(scramble: bool):
        out, rng = [], np.random.default_rng(9)
        for s in splits:  # each fold's own test rows scrambled (they are training rows of the other fold)
            data = X.copy()
            if scramble:
                data[s.test] = rng.permutation(data[s.test].ravel()).reshape(data[s.test].shape)
            out += [train_on_fold(data, obs, labels, (s.train, s.val, s.test), EXP, m, cfg, seed=3,
                                  trainer=trainer).card
                    for m, cfg in (("cvae", CVAE), ("gaussian", {"min_class": 3}), ("shuffled", {}))]
        return out

    a, b = cards_of(False), cards_of(True)
    assert [c["validation"] for c in a] == [c["validation"] for c in b]
    models = ["cvae", "gaussian", "shuffled"]
    chosen = [release.choose_model(x, models, VALIDATION_METRIC)[0] for x in (a, b)]
    assert chosen[0] == chosen[1]


def test_the_holdout_is_grouped_stratified_and_never_reaches_the_refit(kirc):
    X, obs, labels = kirc
    X = X[:, :20]
    groups = obs["patient_barcode"].to_numpy()
    rows, holdout = release.holdout_split(labels, groups, 0.2, seed=4)
    assert not set(rows) & set(holdout) and len(rows) + len(holdout) == len(X)
    assert not set(groups[rows]) & set(groups[holdout])  # a patient is on one side only
    assert 0.1 < len(holdout) / len(X) < 0.3 and set(labels[holdout]) == set(labels)
    trainer = Trainer(loop={"eval_every": 4, "checkpoint_every": 100, "patience": 0}, device="cpu")
    scrambled = X.copy()
    scrambled[holdout] = np.random.default_rng(1).normal(size=scrambled[holdout].shape)
    for model, cfg, budget in (("cvae", CVAE, {"epochs": 4}), ("gaussian", {"min_class": 3}, {})):
        a = refit(X, obs, labels, rows, EXP, model, cfg, seed=2, trainer=trainer, budget=budget)
        b = refit(scrambled, obs, labels, rows, EXP, model, cfg, seed=2, trainer=trainer, budget=budget)
        sa = sample_model(model, a.state, cfg, obs.iloc[:30], labels[:30], seed=5)
        sb = sample_model(model, b.state, cfg, obs.iloc[:30], labels[:30], seed=5)
        np.testing.assert_array_equal(sa, sb)
        assert a.card["n_train"] == len(rows)


def test_class_counts_are_within_one_of_the_share_and_per_class_is_exact(kirc):
    _, obs, labels = kirc
    for n in (1, 7, 100, 1001):
        counts = release.class_counts(labels, n)
        share = pd.Series(labels).value_counts(normalize=True)
        assert sum(counts.values()) == n and all(abs(k - n * share[c]) < 1 for c, k in counts.items())
    pool = obs[["condition", "gender", "age_at_diagnosis_years"]].astype(str)
    drawn = release.draw_covariates(pool, labels, n=None, per_class={"tumor": 5, "normal": 3}, rows=None, seed=1)
    assert drawn["condition"].value_counts().to_dict() == {"tumor": 5, "normal": 3}
    real = set(map(tuple, pool.to_numpy()))
    assert set(map(tuple, drawn.to_numpy())) <= real  # joint rows of real samples of that class
    with pytest.raises(InputError, match="per_class.*not a class"):
        release.draw_covariates(pool, labels, n=None, per_class={"tumour": 5}, rows=None, seed=1)


def test_the_audit_flags_a_copying_test_double_and_passes_a_fresh_gaussian(kirc):
    from gexflow.models.peers import ClassConditionalGaussian

    X, obs, labels = kirc
    rows, holdout = release.holdout_split(labels, obs["patient_barcode"].to_numpy(), 0.2, seed=4)
    rng = np.random.default_rng(0)
    copying_test_double = X[rng.choice(rows, 200)] + rng.normal(0, 1e-3, size=(200, X.shape[1]))
    audit = release.privacy_audit(X[rows], X[holdout], copying_test_double).set_index("space")
    assert (audit["membership_auc"] > 0.9).all() and (audit["flag"] == "possible memorisation").all()
    assert (audit["dcr_p5_ratio"] < 0.1).all()
    gauss = ClassConditionalGaussian(min_class=3).fit(X[rows], labels[rows])
    fresh = gauss.sample(labels[rng.choice(rows, 200)], rng)
    audit = release.privacy_audit(X[rows], X[holdout], fresh).set_index("space")
    assert audit["membership_auc"].between(0.4, 0.6).all(), audit["membership_auc"]
    assert (audit["flag"] == "").all()


def test_input_scale_layers():
    X = np.log2(np.array([[0.0, 1.0, 3.0]]) + 1)
    assert release.input_scale_layer(X, "log_unknown", None) is None
    name, lin = release.input_scale_layer(X, "log2_offset", None)
    np.testing.assert_allclose(lin, [[0.0, 1.0, 3.0]])
    name, counts = release.input_scale_layer(np.log2(np.array([[2.0, 4.0]]) + 1), "counts", np.array([5e5]))
    assert name == "counts" and counts.tolist() == [[1.0, 2.0]]  # CPM x library size / 1e6, rounded
