"""Synthetic-data metrics: every generator, peer and the real ceiling is scored by these
functions, on the same split.

Inputs are samples x genes matrices on the same scale (log2(x+1) or z-scores fitted on training
data) and label arrays; `score_fold` applies them to one fold of an experiment.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import cophenet, linkage
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, wasserstein_distance


def gene_distances(X: np.ndarray) -> np.ndarray:
    """Condensed gene-gene distance matrix, 1 - Pearson r between gene columns."""
    return pdist(np.asarray(X, dtype=np.float64).T, metric="correlation")


def gamma(real: np.ndarray, synthetic: np.ndarray) -> float:
    """The WGAN-GP paper's gamma: Pearson correlation of the upper triangles of the gene-gene
    distance matrices of real and synthetic data."""
    return float(pearsonr(gene_distances(real), gene_distances(synthetic))[0])


def s_dend(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Correlation of the cophenetic distances of complete-linkage dendrograms of the genes."""
    a = cophenet(linkage(gene_distances(real), method="complete"))
    b = cophenet(linkage(gene_distances(synthetic), method="complete"))
    return float(pearsonr(a, b)[0])


def marginal_agreement(real: np.ndarray, synthetic: np.ndarray) -> dict:
    """Per-gene mean and SD agreement (Pearson r across genes), mean 1-D Wasserstein distance,
    and the mean absolute difference of the gene-gene correlation matrices."""
    real, synthetic = np.asarray(real, dtype=np.float64), np.asarray(synthetic, dtype=np.float64)
    w = [wasserstein_distance(real[:, j], synthetic[:, j]) for j in range(real.shape[1])]
    iu = np.triu_indices(real.shape[1], k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cr, cs = np.corrcoef(real, rowvar=False)[iu], np.corrcoef(synthetic, rowvar=False)[iu]
    ok = np.isfinite(cr) & np.isfinite(cs)
    return {
        "mean_r": float(pearsonr(real.mean(0), synthetic.mean(0))[0]),
        "sd_r": float(pearsonr(real.std(0), synthetic.std(0))[0]),
        "wasserstein_mean": float(np.mean(w)),
        "correlation_mae": float(np.mean(np.abs(cr[ok] - cs[ok]))),
    }


def _finite_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the pairs where both values are finite (NaN if fewer than 3 or constant)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(pearsonr(a[ok], b[ok])[0])


def within_class_gamma(real: np.ndarray, real_classes, synthetic: np.ndarray, syn_classes, *,
                       min_samples: int = 3) -> dict:
    """Gamma computed inside each class and averaged, weighted by the class's real sample count.

    Overall gamma is dominated by the gene-gene distances that the class-mean shift creates, so a
    copy of the class means scores well on it; inside a class only the within-class
    co-expression is left. Classes with fewer than `min_samples` real or synthetic samples are
    skipped; gene pairs with a gene constant inside the class (undefined distance) are left out.
    Returns within_gamma (NaN when no class qualifies) and within_gamma_classes (classes used)."""
    real_classes, syn_classes = np.asarray(real_classes).astype(str), np.asarray(syn_classes).astype(str)
    values, weights = [], []
    for c in np.unique(real_classes):
        r, s = real[real_classes == c], synthetic[syn_classes == c]
        if len(r) < min_samples or len(s) < min_samples:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            g = _finite_pearson(gene_distances(r), gene_distances(s))
        if np.isfinite(g):
            values.append(g)
            weights.append(len(r))
    if not values:
        return {"within_gamma": float("nan"), "within_gamma_classes": 0}
    return {"within_gamma": float(np.average(values, weights=weights)), "within_gamma_classes": len(values)}


def prdc(real: np.ndarray, synthetic: np.ndarray, *, nearest_k: int = 5) -> dict:
    """Precision, recall, density and coverage (Naeem et al. 2020) from k-NN balls: a sample's ball
    has the radius of the distance to its k-th nearest neighbour in its own set (itself excluded).
    precision: fraction of synthetic samples inside some real ball; recall: fraction of real
    samples inside some synthetic ball; density: mean number of real balls holding a synthetic
    sample, / k (1 when the two sets are alike; can exceed 1); coverage: fraction of real samples
    whose ball holds a synthetic sample. Pass features already in a common space (see
    score_synthetic: PCA of the real training split)."""
    from scipy.spatial.distance import cdist

    real, synthetic = np.asarray(real, dtype=np.float64), np.asarray(synthetic, dtype=np.float64)
    k = min(nearest_k, len(real) - 1, len(synthetic) - 1)
    if k < 1:
        return {m: float("nan") for m in ("precision", "recall", "density", "coverage")}

    def radii(X):  # distance to the k-th nearest other sample (column 0 of the sorted row is the sample itself)
        return np.sort(cdist(X, X), axis=1)[:, k]

    r_real, r_syn = radii(real), radii(synthetic)
    d = cdist(real, synthetic)  # real x synthetic
    inside_real = d < r_real[:, None]
    return {"precision": float(inside_real.any(axis=0).mean()),
            "recall": float((d < r_syn[None, :]).any(axis=1).mean()),
            "density": float(inside_real.sum(axis=0).mean() / k),
            "coverage": float((d.min(axis=1) < r_real).mean())}


def augmentation_utility(train_X: np.ndarray, train_y, syn_X: np.ndarray, syn_y, test_X: np.ndarray, test_y, *,
                         sizes: list[int], repeats: int, seed: int) -> dict:
    """What synthetic samples add to a small real cohort: a logistic regression trained on `n` real
    training samples, and on the same `n` plus every synthetic sample, each scored by balanced
    accuracy on the real test fold; averaged over `repeats` random subsets (the same subsets for
    every model: they depend on `seed` only). Returns, per size n, real_n (real only), augmented_n
    and utility_n = augmented_n - real_n. A subset holding one class gives a classifier that
    predicts it (balanced accuracy 1 / number of test classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_y, syn_y, test_y = (np.asarray(v).astype(str) for v in (train_y, syn_y, test_y))

    def score(X, y):
        if len(np.unique(y)) < 2:
            pred = np.full(len(test_y), y[0])
        else:
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
            pred = clf.fit(X, y).predict(test_X)
        return balanced_accuracy_score(test_y, pred)

    out = {}
    for n in sizes:
        real, aug = [], []
        for r in range(repeats):
            rng = np.random.default_rng([seed, n, r])
            pick = rng.choice(len(train_X), size=min(n, len(train_X)), replace=False)
            real.append(score(train_X[pick], train_y[pick]))
            aug.append(score(np.vstack([train_X[pick], syn_X]), np.r_[train_y[pick], syn_y]))
        out[f"real_{n}"], out[f"augmented_{n}"] = float(np.mean(real)), float(np.mean(aug))
        out[f"utility_{n}"] = out[f"augmented_{n}"] - out[f"real_{n}"]
    return out


def paired_interval(diffs, *, level: float = 0.95) -> dict:
    """Mean of paired differences (model - baseline, one per fold x seed) and its t-based interval:
    mean +- t_{(1+level)/2, n-1} * sd / sqrt(n). NaN pairs are dropped; fewer than 2 pairs give a
    NaN interval. `distinguishable` is True when the interval excludes 0 and has a width."""
    from scipy.stats import t

    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < 2:
        return {"diff": mean, "ci_low": float("nan"), "ci_high": float("nan"), "n_pairs": n, "distinguishable": False}
    half = float(t.ppf((1 + level) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
    low, high = mean - half, mean + half
    # identical differences give a zero-width interval: with a few folds of a quantised metric
    # (coverage, balanced accuracy on ~30 samples) that is no evidence, so it is not called distinguishable
    return {"diff": mean, "ci_low": low, "ci_high": high, "n_pairs": n,
            "distinguishable": bool((low > 0 or high < 0) and half > 1e-9)}


def detection_auc(real: np.ndarray, synthetic: np.ndarray, *, seed: int, folds: int = 5) -> dict:
    """Cross-validated ROC AUC of classifiers telling real from synthetic samples (0.5 is ideal).

    A linear model only sees differences in gene means; when those are equal, cross-validation
    can push its AUC well below 0.5 (held-out samples shift the training means the other way),
    which is no evidence of realism: read it beside the random forest, which sees interactions.
    The same artefact hits both models on small sets: on 44 real KIRC samples against a
    gene-shuffled copy, the forest scores 0.14; on all 144 samples, 0.96.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.vstack([real, synthetic])
    y = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    models = {"logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
              "random_forest": RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)}
    return {f"auc_{name}": float(cross_val_score(m, X, y, cv=cv, scoring="roc_auc").mean())
            for name, m in models.items()}


def mmd_rbf(real_train: np.ndarray, real: np.ndarray, synthetic: np.ndarray, *, n_components: int = 10) -> float:
    """Squared RBF-kernel MMD between real and synthetic samples, in the PCA space of the real
    training data, bandwidth from the median pairwise distance (unbiased estimate)."""
    from scipy.spatial.distance import cdist
    from sklearn.decomposition import PCA

    # the exact solver: sklearn's randomised one (chosen above 500 genes) is unseeded here
    pca = PCA(n_components=min(n_components, *real_train.shape), svd_solver="full").fit(real_train)
    a, b = pca.transform(real), pca.transform(synthetic)
    both = np.vstack([a, b])
    sigma2 = np.median(pdist(both, "sqeuclidean"))
    k = lambda u, v: np.exp(-cdist(u, v, "sqeuclidean") / sigma2)  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
                 - 2 * kab.mean())


def memorisation(train: np.ndarray, test: np.ndarray, synthetic: np.ndarray) -> dict:
    """Distance of each synthetic sample to its nearest training sample, next to the same for real
    test samples: synthetic samples much closer than real unseen ones suggest copying."""
    from scipy.spatial.distance import cdist

    syn = cdist(synthetic, train).min(axis=1)
    real = cdist(test, train).min(axis=1)
    return {"nn_distance_synthetic_median": float(np.median(syn)), "nn_distance_test_median": float(np.median(real)),
            "nn_ratio": float(np.median(syn) / np.median(real))}


def tstr_accuracy(train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray) -> float:
    """Train-on-synthetic / test-on-real: balanced accuracy on real test samples of a logistic
    regression fitted on (synthetic) samples and their conditioning labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(train_y)) < 2:
        return float("nan")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(train_X, train_y)
    return float(balanced_accuracy_score(test_y, clf.predict(test_X)))


def deg_preservation(real: np.ndarray, real_groups: np.ndarray, synthetic: np.ndarray, syn_groups: np.ndarray,
                     contrast: tuple[str, str], top_n: int) -> dict:
    """The DEG call (unpaired rank-sum, log2 fold change of log2(x+1) means) on synthetic and on
    real test data: Jaccard index of the top_n genes by p-value, and Pearson r of the log2 FCs."""
    from gexflow.deg import mann_whitney_u

    def call(X, g):
        a, b = X[g == contrast[0]], X[g == contrast[1]]
        if len(a) < 2 or len(b) < 2:
            return None
        res = mann_whitney_u(a.T, b.T)
        return res.pvalue, a.mean(0) - b.mean(0)

    r, s = call(real, real_groups), call(synthetic, syn_groups)
    if r is None or s is None:
        return {"deg_jaccard_top": float("nan"), "deg_log2fc_r": float("nan")}
    n = min(top_n, real.shape[1])
    # stable order: p-value, then larger |log2 FC| first, so ties do not depend on gene order
    top = lambda p, fc: set(np.lexsort((-np.abs(fc), p))[:n])  # noqa: E731
    tr, ts = top(*r), top(*s)
    return {"deg_jaccard_top": len(tr & ts) / len(tr | ts), "deg_log2fc_r": float(pearsonr(r[1], s[1])[0])}


def score_synthetic(train: np.ndarray, test: np.ndarray, synthetic: np.ndarray, *, test_classes: np.ndarray,
                    syn_classes: np.ndarray, settings: dict, seed: int, contrast: tuple | None = None,
                    is_real: bool = False, train_classes: np.ndarray | None = None) -> dict:
    """Every metric of the comparison table for one model on one fold (log2(x+1) scale).

    `synthetic` was generated for the test split's covariates (repeated to the training-set size);
    the ceiling row passes the real training split here (`is_real`). `*_classes` are the class
    labels (TSTR target, within-class gamma, augmentation utility); `contrast` is (test groups,
    synthetic groups, (group a, group b)) for DEG preservation, or None."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    out = {"gamma": gamma(test, synthetic)}
    out.update(within_class_gamma(test, test_classes, synthetic, syn_classes))
    out["s_dend"] = s_dend(test, synthetic)
    out.update(marginal_agreement(test, synthetic))
    # detection: as many synthetic as real test samples (the first replicate: exactly the test covariates)
    pick = rng.choice(len(synthetic), size=min(len(test), len(synthetic)), replace=False) if is_real \
        else np.arange(min(len(test), len(synthetic)))
    out.update(detection_auc(test, synthetic[pick], seed=seed, folds=settings["detection_folds"]))
    out["mmd"] = mmd_rbf(train, test, synthetic, n_components=settings["mmd_components"])
    # PRDC in the PCA space of the real training split, test samples against as many synthetic ones
    pca = PCA(n_components=min(settings.get("prdc_components", 10), *train.shape), svd_solver="full").fit(train)
    out.update(prdc(pca.transform(test), pca.transform(synthetic[pick]), nearest_k=settings.get("prdc_k", 5)))
    out["tstr_balanced_accuracy"] = tstr_accuracy(synthetic, syn_classes, test, test_classes)
    if train_classes is not None and settings.get("utility_sizes"):
        out.update(augmentation_utility(train, train_classes, synthetic, syn_classes, test, test_classes,
                                        sizes=settings["utility_sizes"], repeats=settings.get("utility_repeats", 3),
                                        seed=seed))
    if contrast is not None:
        test_groups, syn_groups, groups = contrast
        out.update(deg_preservation(test, test_groups, synthetic, syn_groups, tuple(groups), settings["deg_top_n"]))
    if is_real:
        out.update({"nn_distance_synthetic_median": float("nan"), "nn_distance_test_median": float("nan"),
                    "nn_ratio": float("nan")})
    else:
        out.update(memorisation(train, test, synthetic))
    return out


# ------------------------------------------------------------------------------------ one fold
def score_fold(X, obs, split, exp: dict, model: str, syn: np.ndarray, syn_obs, evaluation: dict, *,
               seed: int, fold: int) -> dict:
    """Every metric of metrics.score_synthetic for one fold's synthetic samples (or, for the real
    ceiling, the training split itself), identically for every model."""
    from gexflow.errors import InputError
    from gexflow.experiment import class_labels, derived_seed
    from gexflow.models.registry import CEILING

    train, _val, test = split
    if len(test) < evaluation["detection_folds"]:
        raise InputError("config", "generate.evaluation.detection_folds",
                         f"{evaluation['detection_folds']} cross-validation folds for the {len(test)} test samples "
                         f"of fold {fold}", f"set it to at most {len(test)}, or use fewer split folds "
                         "(split.folds) so that test parts are larger")
    contrast = exp.get("contrast")
    if contrast:
        col = contrast["column"]
        contrast = (obs.iloc[test][col].astype(str).to_numpy(), syn_obs[col].astype(str).to_numpy(),
                    contrast["groups"])
    return score_synthetic(X[train], X[test], syn, test_classes=class_labels(obs.iloc[test], exp["label"]),
                           syn_classes=class_labels(syn_obs, exp["label"]), contrast=contrast, settings=evaluation,
                           seed=derived_seed(seed, "evaluate", fold), is_real=model == CEILING,
                           train_classes=class_labels(obs.iloc[train], exp["label"]))
