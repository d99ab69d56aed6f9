"""Scores of sample and gene embeddings, identical for the factorized embedding and its peers:

- `classifier_protocol`: the paper's semi-supervised table. For each of `n_splits` random draws a
  small labelled fraction of the samples trains each scikit-learn classifier, which is tested on
  all other samples; every method sees the same draws. Accuracy is also reported separately on
  the tested samples the embedding was trained on and on the held-out ones.
- `baseline_embeddings`: PCA, NMF, UMAP (fitted on training rows), t-SNE (transductive) and raw data.
- `neighbour_enrichment`: each gene's k nearest genes in an embedding vs a reference relation
  (shared KEGG pathway, or being among the gene's top co-expressed genes), against a random-gene
  null: enrichment ratio (observed / expected) and a permutation p-value (gene labels shuffled).
- `imputation_mae`: MAE on masked entries of a prediction, per-gene means and KNNImputer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# How each method places the samples the classifiers are tested on (the report prints it).
HELD_OUT = {"factorized": "held-out samples by embed_new_samples (frozen network)",
            "pca": "fitted on training samples, others transformed", "nmf": "fitted on training samples, others "
            "transformed", "umap": "fitted on training samples, others transformed",
            "tsne": "transductive: all samples embedded together", "raw": "no fitting"}
CLASSIFIERS = ("1nn", "decision_tree", "gaussian_nb", "random_forest", "adaboost", "mlp")


def make_classifier(name: str, seed: int, settings: dict | None = None):
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    s = settings or {}
    if name == "1nn":
        return KNeighborsClassifier(n_neighbors=1)
    if name == "decision_tree":
        return DecisionTreeClassifier(random_state=seed)
    if name == "gaussian_nb":
        return GaussianNB()
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=s.get("forest_trees", 100), random_state=seed, n_jobs=1)
    if name == "adaboost":
        return AdaBoostClassifier(random_state=seed)
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(100,), max_iter=s.get("mlp_iterations", 200), random_state=seed)
    raise ValueError(f"unknown classifier {name}")


def labelled_draws(y: np.ndarray, fraction: float, n_splits: int, seed: int) -> list[np.ndarray]:
    """`n_splits` random labelled sets of round(fraction * n) samples (at least 2, and at least two
    classes: a draw with one class is redrawn)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    k = min(n - 1, max(2, int(round(fraction * n))))
    draws = []
    while len(draws) < n_splits:
        idx = np.sort(rng.choice(n, size=k, replace=False))
        if len(np.unique(y[idx])) >= 2:
            draws.append(idx)
    return draws


def classifier_protocol(embeddings: dict[str, np.ndarray], y, *, fractions, n_splits: int, classifiers=CLASSIFIERS,
                        seed: int, held_out: np.ndarray | None = None, settings: dict | None = None,
                        only: dict | None = None) -> pd.DataFrame:
    """One row per method x fraction x split x classifier: accuracy on every unlabelled sample, and
    on those with held_out False (`acc_train`) and True (`acc_held_out`). `only` limits some
    methods to some classifiers (e.g. no MLP on thousands of raw genes)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    y = np.asarray(y).astype(str)
    held_out = np.zeros(len(y), dtype=bool) if held_out is None else np.asarray(held_out, dtype=bool)
    rows = []
    for f_i, fraction in enumerate(fractions):
        draws = labelled_draws(y, fraction, n_splits, seed + f_i)
        for split, idx in enumerate(draws):
            test = np.ones(len(y), dtype=bool)
            test[idx] = False
            for method, Z in embeddings.items():
                Z = np.asarray(Z, dtype=np.float64)
                for c in classifiers:
                    if only and method in only and c not in only[method]:
                        continue
                    clf = make_classifier(c, seed + split, settings)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        ok = clf.fit(Z[idx], y[idx]).predict(Z) == y
                    rows.append({"method": method, "fraction": fraction, "n_labelled": len(idx), "split": split,
                                 "classifier": c, "accuracy": ok[test].mean(),
                                 "acc_train": ok[test & ~held_out].mean() if (test & ~held_out).any() else np.nan,
                                 "acc_held_out": ok[test & held_out].mean() if (test & held_out).any() else np.nan})
    return pd.DataFrame(rows)


def summarise_classifiers(per_split: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over splits of each accuracy column, per method x fraction x classifier."""
    keys = [c for c in ("label", "fold", "method", "fraction", "classifier") if c in per_split.columns]
    g = per_split.groupby(keys, sort=False)
    out = g[["accuracy", "acc_train", "acc_held_out"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}".replace("_mean", "").replace("_std", "_sd") for a, b in out.columns]
    out["n_splits"] = g.size()
    out["n_labelled"] = g["n_labelled"].first()
    return out.reset_index()


# ------------------------------------------------------------------------------------- baselines
def baseline_embeddings(X: np.ndarray, train: np.ndarray, size: int, methods, *, seed: int, settings: dict) -> dict:
    """PCA, NMF, UMAP (fitted on training rows, others transformed), t-SNE (transductive; only
    for size <= 3, the Barnes-Hut limit) and the raw data."""
    from sklearn.decomposition import NMF, PCA
    from sklearn.manifold import TSNE

    out = {}
    for m in methods:
        if m == "pca":
            out[m] = PCA(size, random_state=seed).fit(X[train]).transform(X)
        elif m == "nmf":
            nn = np.clip(X, 0, None)
            out[m] = NMF(size, init="nndsvda", max_iter=settings.get("nmf_iterations", 500),
                         random_state=seed).fit(nn[train]).transform(nn)
        elif m == "tsne" and size <= 3:
            perp = min(settings.get("tsne_perplexity", 30), (len(X) - 1) / 3)
            out[m] = TSNE(size, perplexity=perp, init="pca", random_state=seed).fit_transform(X)
        elif m == "umap":
            import umap

            out[m] = umap.UMAP(n_components=size, n_neighbors=min(settings.get("umap_neighbours", 15), len(train) - 1),
                               random_state=seed).fit(X[train]).transform(X)
        elif m == "raw":
            out[m] = X
    return out


# ------------------------------------------------------------------------------------- gene side
def knn_indices(E: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows (Euclidean), ties broken by index."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(E) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(E)
    idx = nn.kneighbors(E, return_distance=False)
    out = np.empty((len(E), k), dtype=int)
    for i, row in enumerate(idx):
        row = row[row != i][:k]
        out[i] = row
    return out


def _hit_rate(neighbours: np.ndarray, relation) -> float:
    rows = np.repeat(np.arange(len(neighbours)), neighbours.shape[1])
    return float(np.asarray(relation[rows, neighbours.reshape(-1)]).mean())


def neighbour_enrichment(E: np.ndarray, relation: np.ndarray, *, k: int, permutations: int, seed: int) -> dict:
    """Fraction of (gene, k-nearest gene) pairs in `relation` (genes x genes, bool) against the
    null of random genes: expected = the relation's density off the diagonal; ratio = observed /
    expected; p = (1 + #permutations with a rate >= observed) / (1 + permutations), each
    permutation shuffling which gene each embedding row is."""
    relation = np.asarray(relation, dtype=bool)
    n = len(E)
    nb = knn_indices(E, k)
    observed = _hit_rate(nb, relation)
    expected = (relation.sum() - np.trace(relation)) / max(n * (n - 1), 1)
    rng = np.random.default_rng(seed)
    hits = 0
    null = []
    for _ in range(permutations):
        p = rng.permutation(n)  # row i of E is gene p[i]
        r = _hit_rate(p[nb], relation[p][:, :])  # neighbour sets relabelled together
        null.append(r)
        hits += r >= observed
    return {"k": int(nb.shape[1]), "n_genes": n, "observed": observed, "expected": float(expected),
            "null_mean": float(np.mean(null)) if null else np.nan,
            "ratio": observed / expected if expected > 0 else np.nan,
            "p_value": (1 + hits) / (1 + permutations)}


def kegg_relation(gene_entrez: list[str], gene_symbols: list[str], kegg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(genes x genes bool: share at least one KEGG pathway, annotated mask: in any pathway)."""
    from gexflow.selection import map_to_dataset

    var = pd.DataFrame({"entrez_id": gene_entrez, "symbol": gene_symbols},
                       index=pd.Index(range(len(gene_entrez))).astype(str))
    hit = map_to_dataset(kegg, var).to_numpy()
    members = pd.DataFrame({"pathway": kegg["pathway_id"].to_numpy(), "gene": hit}).dropna().drop_duplicates()
    members["gene"] = members["gene"].astype(int)
    pw = {p: i for i, p in enumerate(members["pathway"].unique())}
    M = np.zeros((len(gene_entrez), len(pw)), dtype=np.float32)
    M[members["gene"].to_numpy(), members["pathway"].map(pw).to_numpy()] = 1
    return (M @ M.T) > 0, M.sum(1) > 0


def coexpression_relation(X: np.ndarray, top: int) -> np.ndarray:
    """genes x genes bool: j is among gene i's `top` most positively correlated genes (or i among j's)."""
    C = np.corrcoef(np.asarray(X, dtype=np.float64), rowvar=False)
    C = np.nan_to_num(C, nan=-np.inf)
    np.fill_diagonal(C, -np.inf)
    top = min(top, C.shape[0] - 1)
    idx = np.argsort(-C, axis=1, kind="stable")[:, :top]
    R = np.zeros(C.shape, dtype=bool)
    R[np.repeat(np.arange(len(C)), top), idx.reshape(-1)] = True
    return R | R.T


# ------------------------------------------------------------------------------------ imputation
def imputation_mae(X_masked: np.ndarray, truth: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   predictions: dict[str, np.ndarray], *, knn_neighbours: int = 5) -> pd.DataFrame:
    """MAE on the masked entries (rows, cols) of `X_masked` (NaN there and wherever missing):
    each given prediction, per-gene means of the observed entries, and KNNImputer."""
    from sklearn.impute import KNNImputer

    out = {m: np.asarray(p, dtype=np.float64) for m, p in predictions.items()}
    out["gene_mean"] = np.nanmean(X_masked, axis=0)[cols]
    filled = KNNImputer(n_neighbors=knn_neighbours).fit_transform(X_masked)
    out["knn_imputer"] = filled[rows, cols]
    truth = np.asarray(truth, dtype=np.float64)
    return pd.DataFrame([{"method": m, "mae": float(np.mean(np.abs(p - truth))), "n_entries": len(truth)}
                         for m, p in out.items()])


# ------------------------------------------------------------------------------------ one fold
def score_fold(X, obs, var, split, samples, genes_emb: np.ndarray, entries: pd.DataFrame, kegg: pd.DataFrame,
                  exp: dict, size: int, evaluation: dict, *, seed: int, exp_name: str, fold: int):
    """One fold: the classifier protocol for FE and every baseline (per label), the gene-neighbour
    enrichment of the FE gene embedding and of PCA loadings, and the imputation MAE of the masked
    entries. Returns (per-split classifier rows, gene rows, imputation rows, 2-D coordinates)."""
    from sklearn.decomposition import PCA

    from gexflow.experiment import class_labels, derived_seed, experiment_labels

    train = split[0]
    held_out = samples.obs["split_role"].to_numpy() != "train"
    fseed = derived_seed(seed, exp_name, "evaluate", size, fold)
    embs = {"factorized": np.asarray(samples.X, dtype=np.float64),
            **baseline_embeddings(X, train, size, evaluation["baselines"], seed=fseed, settings=evaluation)}
    per_split = []
    for lname, lab in experiment_labels(exp).items():
        df = classifier_protocol(embs, class_labels(obs, lab), fractions=evaluation["fractions"],
                                    n_splits=evaluation["n_splits"], classifiers=evaluation["classifiers"],
                                    seed=derived_seed(seed, exp_name, "draws", lname), held_out=held_out,
                                    settings=evaluation, only={"raw": evaluation["raw_classifiers"]})
        df.insert(0, "label", lname)
        df.insert(1, "fold", fold)
        per_split.append(df)
    coords = [pd.DataFrame({"sample_id": obs.index.astype(str), "method": m, "role": samples.obs["split_role"].values,
                            "dim1": Z[:, 0], "dim2": Z[:, 1] if Z.shape[1] > 1 else 0.0})
              for m, Z in embs.items() if m != "raw"]
    gene_embs = {"factorized": genes_emb, "pca_loadings": PCA(min(genes_emb.shape[1], len(train) - 1, X.shape[1]),
                                                              random_state=fseed).fit(X[train]).components_.T}
    entrez = var["entrez_id"] if "entrez_id" in var else pd.Series("", index=var.index)
    rel_kegg, annotated = kegg_relation(entrez.astype(str).tolist(), var["symbol"].astype(str).tolist(), kegg)
    rel_co = coexpression_relation(X[train], evaluation["coexpression_top"])
    gene_rows = []
    for m, G in gene_embs.items():
        a = np.flatnonzero(annotated)
        for ref, rel, rows in (("kegg_shared_pathway", rel_kegg[np.ix_(a, a)], a),
                               ("top_coexpressed", rel_co, np.arange(len(G)))):
            r = neighbour_enrichment(G[rows], rel, k=evaluation["gene_k"], permutations=evaluation["permutations"],
                                        seed=derived_seed(seed, exp_name, "genes", ref, fold))
            gene_rows.append({"fold": fold, "method": m, "reference": ref, **r})
    Xt = X.copy()
    Xt[entries["row"].to_numpy(), entries["col"].to_numpy()] = np.nan
    test_e = entries[entries["role"] == "test"]
    pos = {r: k for k, r in enumerate(train)}
    rows = np.array([pos[r] for r in test_e["row"]], dtype=int)
    imp = imputation_mae(Xt[train], test_e["value"].to_numpy(), rows, test_e["col"].to_numpy(),
                            {"factorized": test_e["factorized"].to_numpy()},
                            knn_neighbours=evaluation["knn_imputer_neighbours"])
    imp.insert(0, "fold", fold)
    return pd.concat(per_split, ignore_index=True), gene_rows, imp, coords
