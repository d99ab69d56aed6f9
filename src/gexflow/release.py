"""Releasing what a user came for: the model chosen on validation, refitted, and a synthetic cohort
drawn from it with a privacy record.

- `choose_model`: the model with the best mean validation score over folds and seeds (the test
  split never takes part); ties go to the model listed first in the experiment.
- `holdout_split`: the privacy holdout, stratified by class and grouped by patient, that the
  refitted model never sees.
- `draw_covariates`: covariate rows for the synthetic samples, from the cohort's joint empirical
  distribution of label and covariates (class counts by largest remainder, so each is within 1
  of n x its share), from per-class counts, or from a user's table of rows.
- `privacy_audit`: distances to the closest training record (DCR) of released and of holdout
  profiles, and a distance-based membership-inference AUC (Hilprecht et al. 2019; the CAMDA 2025
  Health Privacy Challenge scores privacy beside fidelity), in the PCA space of the real data and
  on all genes.
- `cohort_anndata`: the released cohort as AnnData (log2(x+1) in X, the input scale in a layer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gexflow.errors import InputError

# An audit flags the release when a distance-based attacker tells members from non-members this
# well, or the closest released profiles (5th percentile of DCR) sit this much closer to training
# profiles than the closest fresh profiles do (a smooth model's median DCR is low without copying).
MIA_AUC_FLAG = 0.6
DCR_P5_RATIO_FLAG = 0.5


def choose_model(cards: list[dict], models: list[str], metric: str, maximise: bool = True,
                 named: str | None = None) -> tuple[str, pd.DataFrame, str]:
    """(chosen model, mean validation score per model, why). `cards`: the cross-validation model
    cards (validation scores only). `named`: the user's choice, used as it is."""
    rows = [{"model": c["model"], "fold": c.get("fold"), "seed": c.get("generator_seed"),
             "score": float(c["validation"][metric])} for c in cards if c["model"] in models]
    table = pd.DataFrame(rows).groupby("model", sort=False)["score"].agg(["mean", "count"]).reindex(models)
    table = table.rename(columns={"mean": f"mean_validation_{metric}", "count": "n_runs"}).reset_index()
    if named is not None:
        if named not in models:
            raise InputError("config", "release.model", f"'{named}' is not a model of this experiment",
                             f"use auto or one of: {', '.join(models)}")
        return named, table, f"named in the config (release.model: {named})"
    scores = table[f"mean_validation_{metric}"].to_numpy(dtype=float)
    scores = np.where(np.isfinite(scores), scores, -np.inf if maximise else np.inf)
    top = scores.max() if maximise else scores.min()
    best = int(np.flatnonzero(np.abs(scores - top) <= 1e-9 * max(1.0, abs(top)))[0])  # the first listed on ties
    direction = "highest" if maximise else "lowest"
    return models[best], table, (f"{direction} mean validation {metric} over {int(table['n_runs'].iloc[best])} "
                                 f"cross-validation runs ({scores[best]:.4f}); ties go to the model listed first")


def holdout_split(strata, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(refit rows, holdout rows): about `fraction` of the patients held out, stratified by class."""
    from gexflow.splits import carve_fraction

    strata, groups = np.asarray(strata).astype(str), np.asarray(groups).astype(str)
    rest, holdout = carve_fraction(np.arange(len(strata)), strata, groups, fraction, seed)
    return np.sort(rest), np.sort(holdout)


def class_counts(classes: np.ndarray, n: int) -> dict:
    """n split over the classes in proportion to their share (largest remainder: each count within
    1 of n x share, summing to n)."""
    values, counts = np.unique(classes, return_counts=True)
    exact = n * counts / counts.sum()
    out = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - out), kind="stable")[: n - out.sum()]:
        out[i] += 1
    return {str(v): int(k) for v, k in zip(values, out)}


def draw_covariates(pool: pd.DataFrame, classes: np.ndarray, *, n: int | None, per_class: dict | None,
                    rows: pd.DataFrame | None, seed: int) -> pd.DataFrame:
    """Covariate rows of the synthetic samples. `pool`: the cohort's label and covariate columns,
    one row per real sample (`classes`: its class). From `rows` when given (a user's table), else
    `per_class` counts, else n in the cohort's class proportions; within a class, rows are drawn
    with replacement from that class's real rows, so label and covariates keep their joint
    distribution."""
    if rows is not None:
        return rows.reset_index(drop=True)
    counts = {str(k): int(v) for k, v in per_class.items()} if per_class else class_counts(classes, int(n))
    unknown = sorted(set(counts) - set(classes))
    if unknown:
        raise InputError("config", "release.per_class", f"class {unknown[0]} is not a class of the cohort",
                         f"use some of: {', '.join(sorted(set(classes)))}")
    rng = np.random.default_rng(seed)
    parts = [pool.iloc[rng.choice(np.flatnonzero(classes == c), size=k, replace=True)]
             for c, k in counts.items() if k]
    return pd.concat(parts, ignore_index=True)


def _nearest(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Each row of A's Euclidean distance to its nearest row of B (chunked: no n x m matrix kept)."""
    from sklearn.metrics import pairwise_distances_chunked

    out = []
    for block in pairwise_distances_chunked(A, B, working_memory=64):
        out.append(block.min(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def privacy_audit(train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, *,
                  n_components: int = 10) -> pd.DataFrame:
    """One row per space (PCA of the real data, all genes): DCR medians and 5th percentiles of the
    released and the holdout profiles (distance to the closest training profile) and their ratios
    (< 1: released profiles are closer to training profiles than fresh ones are), the share of
    released profiles nearer to a training profile than any holdout profile is (about
    1 / (n_holdout + 1) without copying), and the membership-inference AUC of an attacker scoring
    each real profile by its distance to the closest released profile (members: training; non-
    members: holdout; 0.5 = no leak)."""
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    k = int(min(n_components, train.shape[1], len(train) - 1))
    pca = PCA(k, svd_solver="full").fit(train)
    rows = []
    for space, f in (("pca", pca.transform), ("all_genes", lambda X: X)):
        tr, ho, sy = f(train), f(holdout), f(synthetic)
        dcr_syn, dcr_ho = _nearest(sy, tr), _nearest(ho, tr)
        members = np.concatenate([_nearest(tr, sy), _nearest(ho, sy)])
        truth = np.r_[np.ones(len(tr)), np.zeros(len(ho))]
        auc = float(roc_auc_score(truth, -members))
        med = float(np.median(dcr_syn) / max(np.median(dcr_ho), 1e-12))
        p5 = float(np.percentile(dcr_syn, 5) / max(np.percentile(dcr_ho, 5), 1e-12))
        rows.append({"space": space, "dimensions": k if space == "pca" else train.shape[1],
                     "n_train": len(tr), "n_holdout": len(ho), "n_released": len(sy),
                     "dcr_released_median": float(np.median(dcr_syn)), "dcr_holdout_median": float(np.median(dcr_ho)),
                     "dcr_median_ratio": med, "dcr_released_p5": float(np.percentile(dcr_syn, 5)),
                     "dcr_holdout_p5": float(np.percentile(dcr_ho, 5)), "dcr_p5_ratio": p5,
                     "share_closer_than_any_holdout": float(np.mean(dcr_syn < dcr_ho.min())),
                     "share_expected_without_copying": 1.0 / (len(ho) + 1),
                     "membership_auc": auc,
                     "flag": "possible memorisation" if auc > MIA_AUC_FLAG or p5 < DCR_P5_RATIO_FLAG else ""})
    return pd.DataFrame(rows)


def input_scale_layer(X: np.ndarray, scale: str, library_sizes: np.ndarray | None) -> tuple[str, np.ndarray] | None:
    """The released values back on the dataset's input scale, where that is defined: linear values
    (FPKM, TPM, RSEM normalised, array intensities) for linear / log2p1 / log2_offset / log2 input,
    rounded counts for count input (CPM times the library size of the real sample the covariates
    were drawn from); none for log2_centred / log_unknown input (no absolute scale to go back to)."""
    linear = np.clip(np.exp2(X) - 1.0, 0.0, None)
    if scale in ("linear", "log2p1", "log2_offset", "log2"):
        return "linear", linear
    if scale == "counts" and library_sizes is not None:
        return "counts", np.round(linear * np.asarray(library_sizes, dtype=np.float64)[:, None] / 1e6)
    return None


def cohort_anndata(X: np.ndarray, obs: pd.DataFrame, var: pd.DataFrame, *, scale: str, library_sizes, uns: dict):
    """The released cohort: X log2(x+1) (float32), obs = the drawn covariate rows with
    `synthetic: True`, var = gene ids and symbols, a layer on the input scale where defined."""
    import anndata as ad

    obs = obs.copy().astype({c: str for c in obs.columns if str(obs[c].dtype) in ("category", "object")})
    obs.insert(0, "synthetic", True)
    obs.index = [f"released_{i}" for i in range(len(obs))]
    a = ad.AnnData(X=X.astype(np.float32), obs=obs, var=var.copy(), uns=uns)
    layer = input_scale_layer(X, scale, library_sizes)
    if layer is not None:
        a.layers[layer[0]] = layer[1].astype(np.float32)
    return a


RELEASE_FILES = {"model": "model.pt", "card": "release_card.json", "pool": "covariate_pool.tsv",
                 "gene_table": "genes.tsv"}


def release_files(directory) -> dict:
    """The files of a release directory that sampling reads (everything it needs: no DAG)."""
    from pathlib import Path

    return {k: str(Path(directory) / v) for k, v in RELEASE_FILES.items()}


def sample_cohort(files: dict, *, n: int | None, per_class: dict | None = None, rows_file=None, seed: int):
    """The released cohort drawn from a release directory's files (release_files): covariate rows
    (draw_covariates), profiles from the refitted model (generation.sample_model), as AnnData. The
    DAG's sample_release job and `python -m gexflow sample` call this, so the same seed and request
    give the same file."""
    from gexflow.experiment import class_labels, derived_seed, label_columns
    from gexflow.generation import sample_model
    from gexflow.io import read_intermediate, read_json, read_table
    from gexflow.models.training import load_model, load_pickled_model

    card = read_json(files["card"])
    pool = read_intermediate(files["pool"], dtype=str, keep_default_na=False)
    genes = read_intermediate(files["gene_table"], dtype=str, keep_default_na=False).set_index("gene_id")
    genes.index.name = None
    exp = card["experiment"]
    columns = list(dict.fromkeys([*label_columns(exp["label"]), *exp.get("categorical", []),
                                  *exp.get("numerical", [])]))
    rows = None
    if rows_file:
        rows = read_table(rows_file, "covariate rows", "give a TSV with one row per synthetic sample and the columns "
                          f"{', '.join(columns)}", dtype=str, keep_default_na=False)
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise InputError(rows_file, missing[0], "column missing from the covariate rows",
                             f"give the columns {', '.join(columns)}")
        rows = rows[columns]
    keep = columns + [c for c in ("library_size",) if c in pool]
    drawn = draw_covariates(pool[keep], class_labels(pool, exp["label"]), n=n, per_class=per_class, rows=rows,
                            seed=derived_seed(seed, "covariates"))
    for c in exp.get("numerical", []):
        drawn[c] = pd.to_numeric(drawn[c], errors="raise")
    loader = load_pickled_model if card["pickled"] else load_model
    state = loader(files["model"])
    X = sample_model(card["model"], state, card["settings"], drawn, class_labels(drawn, exp["label"]), seed)
    lib = pd.to_numeric(drawn.pop("library_size")).to_numpy() if "library_size" in drawn else None
    uns = {"gexflow": {"model": card["model"], "seed": int(seed), "n": int(len(drawn)),
                       "experiment": card["experiment_name"], "scale": "log2(x+1)"}}
    return cohort_anndata(X, drawn, genes, scale=card["input_scale"], library_sizes=lib, uns=uns)


def cohort_table(cohort) -> pd.DataFrame:
    """The released cohort as a genes x samples table (gene_id, symbol, one column per profile)."""
    tsv = pd.DataFrame(np.asarray(cohort.X).T.round(4), index=pd.Index(cohort.var_names, name="gene_id"),
                       columns=cohort.obs_names)
    tsv.insert(0, "symbol", cohort.var["symbol"].to_numpy())
    return tsv.reset_index()
