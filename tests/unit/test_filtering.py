"""Filter / normalise: scale conversions, filters and z-scoring against numpy/scipy/scanpy."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import scipy.stats

from gexflow import filtering
from gexflow.errors import InputError

from conftest import KIRC_SUBSET, REPO


@pytest.fixture(scope="module")
def kirc():
    return pd.read_csv(KIRC_SUBSET, sep="\t", index_col=0).T  # samples x genes, log2(RSEM + 0.25)


def test_log2_offset_is_converted_to_log2p1(kirc):
    v = kirc.to_numpy()
    out = filtering.to_log2p1(v, "log2_offset", log_offset=0.25)
    expected = np.log2(np.maximum(2.0 ** v - 0.25, 0) + 1)
    np.testing.assert_allclose(out, expected)
    # -2.00 encodes zero in the MetaGSCA tables and must map to exactly 0.
    assert np.all(out[v == -2.0] == 0.0)
    assert (out >= 0).all()


def test_linear_and_log2p1_scales():
    x = np.array([[0.0, 1.0, 3.0]])
    np.testing.assert_allclose(filtering.to_log2p1(x, "linear"), [[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(filtering.to_log2p1(x, "log2p1"), x)
    with pytest.raises(InputError, match="negative"):
        filtering.to_log2p1(-x, "linear")


def test_counts_path_is_log2_cpm(kirc):
    # Real values moved to a count-like scale (2^v): the pipeline must equal the textbook formula.
    counts = np.round(2.0 ** kirc.to_numpy() * 100)
    L, keep_s, keep_g, _ = filtering.normalise_bulk(counts, "counts",
                                                    dict(min_library_size=0, min_expression=0, min_fraction=0))
    manual = np.log2(counts / counts.sum(axis=1, keepdims=True) * 1e6 + 1)
    np.testing.assert_allclose(L[:, keep_g], manual)
    assert keep_s.all() and keep_g.all()


def test_library_size_filter_drops_small_libraries():
    synthetic_counts = np.array([[10.0, 10.0], [1000.0, 1000.0]])
    L, keep_s, _, steps = filtering.normalise_bulk(
        synthetic_counts, "counts", dict(min_library_size=100, min_expression=0, min_fraction=0))
    assert keep_s.tolist() == [False, True]
    assert L.shape[0] == 1
    assert steps[1].step == "library_size" and steps[1].samples == 1


def test_low_expression_filter_matches_definition(kirc):
    L = filtering.to_log2p1(kirc.to_numpy(), "log2_offset", log_offset=0.25)
    keep = filtering.expressed_genes(L, 3.0, 0.5)
    manual = np.array([(L[:, j] >= 3.0).sum() >= 0.5 * L.shape[0] for j in range(L.shape[1])])
    np.testing.assert_array_equal(keep, manual)
    assert 0 < keep.sum() < L.shape[1]  # the threshold really splits this real subset


def test_empty_after_filtering_names_the_field(kirc):
    with pytest.raises(InputError) as e:
        filtering.normalise_bulk(kirc.to_numpy(), "log2_offset",
                                 dict(min_expression=100, min_fraction=0.5, min_library_size=0), log_offset=0.25,
                                 file="kirc.tsv")
    msg = str(e.value)
    assert "kirc.tsv" in msg and "filter.min_expression" in msg and "lower" in msg


def test_zscore_matches_scipy_and_uses_training_statistics_only(kirc):
    L = filtering.to_log2p1(kirc.to_numpy(), "log2_offset", log_offset=0.25)
    train, test = L[:100], L[100:]
    z = filtering.ZScore.fit(train)
    np.testing.assert_allclose(z.transform(train), np.nan_to_num(scipy.stats.zscore(train, axis=0, ddof=0)), atol=1e-10)
    # Test rows are scaled with the training mean/SD, not their own.
    np.testing.assert_allclose(z.transform(test), (test - train.mean(0)) / np.where(train.std(0) > 0, train.std(0), 1),
                               atol=1e-12)
    np.testing.assert_allclose(z.inverse_transform(z.transform(test)), test, atol=1e-12)


def test_zscore_constant_gene_is_zero_not_nan():
    z = filtering.ZScore.fit(np.ones((5, 2)))
    assert np.isfinite(z.transform(np.ones((3, 2)))).all()


def _synthetic_counts_adata(seed=0):
    """Small synthetic count matrix for the scanpy QC path (no real raw-count single-cell set is shipped)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.3, 4.0, size=60)
    X = rng.poisson(lam * rng.uniform(20, 80, size=(40, 1))).astype(np.float32)
    X[:3] = rng.poisson(0.5, size=(3, 60))  # three cells with tiny libraries
    return ad.AnnData(sp.csr_matrix(X), obs=pd.DataFrame(index=[f"cell{i}" for i in range(40)]),
                      var=pd.DataFrame(index=[f"gene{j}" for j in range(60)]))


def test_single_cell_counts_match_scanpy():
    params = dict(min_gene_counts=3, min_cells=5, min_library_size=1000, target_sum=None)
    adata = _synthetic_counts_adata()
    out, steps, reason = filtering.qc_single_cell(adata, params)
    # Reference built with scanpy alone, step by step.
    ref = adata.copy()
    detected = np.asarray((ref.X >= 3).sum(axis=0)).ravel() >= 5
    ref = ref[:, detected].copy()
    sc.pp.filter_cells(ref, min_counts=1000)
    sc.pp.normalize_total(ref)
    sc.pp.log1p(ref)
    assert "count filters applied" in reason
    assert out.obs_names.tolist() == ref.obs_names.tolist()
    assert out.var_names.tolist() == ref.var_names.tolist()
    np.testing.assert_allclose(out.X.toarray(), ref.X.toarray(), rtol=1e-6)
    assert 0 < out.n_obs < adata.n_obs and 0 < out.n_vars < adata.n_vars


def test_normalised_single_cell_input_skips_count_filters_with_reason():
    adata = ad.read_h5ad(REPO / "resources/scrna/pbmc68k_reduced.h5ad")
    out, steps, reason = filtering.qc_single_cell(adata, dict(min_gene_counts=3, min_cells=5, min_library_size=1000))
    assert "count filters skipped" in reason and "negative" in reason and ".raw" in reason
    assert out.shape == (700, 765)
    assert out.X.min() >= 0  # the log-normalised .raw, not the scaled .X
    assert steps[-1].step == "skipped_count_filters"
