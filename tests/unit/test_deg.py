"""DEG calling against per-gene scipy (paired and unpaired, with ties and zeros, every scipy method
branch) on real data, corrections against independent references, fold change, design choice."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from gexflow import deg
from gexflow.errors import InputError

from conftest import REPO

RTOL = 1e-9


def _pairs(name, linear):
    expr = pd.read_csv(REPO / f"resources/tcga/{name}", sep="\t", index_col=0)
    sheet = pd.read_csv(REPO / f"resources/tcga/{name.split('_')[0]}_paired_samples.tsv", sep="\t", dtype=str)
    t = sheet[sheet.condition == "tumor"].set_index("patient_barcode")["sample_barcode"].sort_index()
    n = sheet[sheet.condition == "normal"].set_index("patient_barcode")["sample_barcode"].loc[t.index]
    L = np.log2(expr + 1) if linear else np.log2(np.maximum(2.0 ** expr - 0.25, 0) + 1)
    return L[t.values].to_numpy(), L[n.values].to_numpy()


@pytest.fixture(scope="module")
def kirp():
    return _pairs("kirp_paired_rsem_norm.tsv.gz", linear=True)  # 17,759 genes x 32 pairs, zeros and ties


@pytest.fixture(scope="module")
def kirc():
    return _pairs("kirc_paired_log2rsem.tsv.gz", linear=False)  # 3,811 genes x 72 pairs


def _per_gene(fn, T, N, **kw):
    out = np.array([(r.statistic, r.pvalue) for r in (fn(T[i], N[i], **kw) for i in range(len(T)))])
    return out[:, 0], out[:, 1]


def _assert_matches_scipy(res, stat, p):
    finite = np.isfinite(p)
    np.testing.assert_allclose(res.pvalue[finite], p[finite], rtol=RTOL, atol=0)
    np.testing.assert_allclose(res.statistic[finite], stat[finite], rtol=RTOL, atol=0)
    assert np.all(res.pvalue[~finite] == 1.0)  # scipy's NaN (all differences zero) is p = 1 here


def test_paired_matches_per_gene_scipy_on_kirp(kirp):
    T, N = kirp
    rows = np.random.default_rng(0).choice(len(T), 4000, replace=False)
    T, N = T[rows], N[rows]
    res = deg.wilcoxon_signed_rank(T, N)
    stat, p = _per_gene(st.wilcoxon, T, N)
    _assert_matches_scipy(res, stat, p)
    methods = set(res.method)
    assert {"exact", "asymptotic"} <= methods  # both branches exercised on this real data
    assert ((T - N) == 0).any(axis=1).sum() > 0  # genes with zero differences are in the sample
    # scipy's own axis=1 call falls back to the normal approximation for every gene here.
    axis1 = st.wilcoxon(T, N, axis=1).pvalue
    ratio = res.pvalue / axis1
    assert np.max(np.maximum(ratio, 1 / ratio)) > 100


def test_paired_matches_per_gene_scipy_on_kirc(kirc):
    T, N = kirc
    res = deg.wilcoxon_signed_rank(T, N)
    stat, p = _per_gene(st.wilcoxon, T, N)
    _assert_matches_scipy(res, stat, p)
    assert set(res.method) <= {"asymptotic", "constant"}  # n = 72 > 50: scipy never uses exact


def test_small_paired_sets_use_scipy_permutation_branch(kirp):
    T, N = kirp
    T, N = T[:400, :10], N[:400, :10]  # 10 real pairs: n <= 13 with ties/zeros -> permutation
    res = deg.wilcoxon_signed_rank(T, N)
    stat, p = _per_gene(st.wilcoxon, T, N)
    _assert_matches_scipy(res, stat, p)
    assert (res.method == "permutation").any() and (res.method == "exact").any()


def test_unpaired_matches_per_gene_scipy(kirp):
    T, N = kirp
    rows = np.random.default_rng(1).choice(len(T), 3000, replace=False)
    res = deg.mann_whitney_u(T[rows], N[rows])
    stat, p = _per_gene(st.mannwhitneyu, T[rows], N[rows])
    _assert_matches_scipy(res, stat, p)
    # Small groups (6 vs 7 real samples): exact for tie-free genes, normal approximation otherwise.
    Ts, Ns = T[rows, :6], N[rows, 10:17]
    res = deg.mann_whitney_u(Ts, Ns)
    stat, p = _per_gene(st.mannwhitneyu, Ts, Ns)
    _assert_matches_scipy(res, stat, p)
    assert {"exact", "asymptotic"} <= set(res.method)


def test_unpaired_matches_per_gene_scipy_on_kirc(kirc):
    T, N = kirc  # every gene has tied values here: all take the tie path
    res = deg.mann_whitney_u(T, N)
    stat, p = _per_gene(st.mannwhitneyu, T, N)
    _assert_matches_scipy(res, stat, p)


def test_negative_values_and_nan_take_the_general_path(kirp):
    """Integer sort keys need non-negative values and no NaN; otherwise (value, label) lexsort."""
    T, N = kirp
    rows = np.random.default_rng(2).choice(len(T), 1000, replace=False)
    centre = T[rows].mean(axis=1, keepdims=True)
    Tc, Nc = np.round(T[rows] - centre, 2), np.round(N[rows] - centre, 2)  # negative values, ties
    Tc[0, :3], Nc[0, :3] = -0.0, 0.0  # -0.0 ties with 0.0
    res = deg.mann_whitney_u(Tc, Nc)
    _assert_matches_scipy(res, *_per_gene(st.mannwhitneyu, Tc, Nc))
    Tn = T[rows].copy()
    Tn[5, 7] = np.nan  # one NaN sends every row to the general path; the other rows are unaffected
    res = deg.wilcoxon_signed_rank(Tn, N[rows])
    stat, p = _per_gene(st.wilcoxon, Tn, N[rows])
    keep = np.arange(len(rows)) != 5
    _assert_matches_scipy(deg.TestResult(res.statistic[keep], res.pvalue[keep], res.method[keep]), stat[keep], p[keep])
    np.testing.assert_array_equal(res.pvalue[keep], deg.wilcoxon_signed_rank(T[rows], N[rows]).pvalue[keep])


def test_label_sort_and_rank_sums_match_scipy_rankdata():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, size=(300, 40)).astype(np.float64) / 4  # many ties
    values[:, :2] = -0.0
    labels = rng.random((300, 40)) < 0.4
    odd = np.arange(300) % 2 == 1  # odd rows: leave the zeros out, as the signed-rank test does
    labels[odd[:, None] & (values == 0)] = False  # (dropped zeros have no sign)
    keys, sorted_labels = deg.label_sort(values.copy(), labels)
    order = np.lexsort((labels, values), axis=1)  # by value, label 0 first among ties
    np.testing.assert_array_equal(sorted_labels, np.take_along_axis(labels, order, axis=1))
    s = np.take_along_axis(values, order, axis=1)
    np.testing.assert_array_equal(keys[:, 1:] == keys[:, :-1], s[:, 1:] == s[:, :-1])
    assert (np.diff(keys.astype(np.float64), axis=1) >= 0).all()
    skip = (s == 0).sum(axis=1) * odd
    rank_sum, tie_term, tied = deg.rank_sums(keys, sorted_labels, skip=skip)
    for i in range(300):
        v, lab = s[i, skip[i]:], sorted_labels[i, skip[i]:] == 1
        ranks = st.rankdata(v)
        assert rank_sum[i] == ranks[lab].sum()
        n = len(v)
        assert tie_term[i] == pytest.approx((1 - st.tiecorrect(ranks)) * (n ** 3 - n), rel=1e-12, abs=1e-9)
        assert tied[i] == (len(np.unique(v)) < n)
    untied = np.sort(rng.random((50, 30)), axis=1)  # no ties: rank sums are the label-1 positions
    lab = (rng.random((50, 30)) < 0.5).astype(np.int64)
    r, t, tied = deg.rank_sums(untied, lab)
    np.testing.assert_array_equal(r, (lab * np.arange(1, 31)).sum(axis=1))
    assert not tied.any() and (t == 0).all()
    zeros_first = np.concatenate([np.zeros((50, 3)), untied + 1], axis=1)  # three skipped zeros, then no ties
    lab0 = np.concatenate([np.zeros((50, 3), dtype=np.int64), lab], axis=1)
    r, t, tied = deg.rank_sums(zeros_first, lab0, skip=np.full(50, 3))
    np.testing.assert_array_equal(r, (lab * np.arange(1, 31)).sum(axis=1))
    assert not tied.any() and (t == 0).all()


def test_constant_gene_gets_p_one_not_nan():
    synthetic = np.array([[2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    r = deg.wilcoxon_signed_rank(synthetic, synthetic * 0 + 2.0)
    assert r.pvalue[0] == 1.0 and r.method[0] == "constant"
    r = deg.mann_whitney_u(synthetic[:1], synthetic[:1])
    assert r.pvalue[0] == 1.0
    assert np.isfinite(deg.wilcoxon_signed_rank(synthetic, synthetic[::-1]).pvalue).all()


def test_exact_table_matches_scipy_distribution():
    for n in (5, 20, 32):
        table = deg.wilcoxon_exact_pvalues(n)
        assert len(table) == n * (n + 1) // 2 + 1
        # Statistic k is reached by making exactly the ranks in a subset positive.
        for k in (0, 3, n, n * (n + 1) // 4):
            signs = np.full(n, -1.0)
            remaining = k
            for r in range(n, 0, -1):
                if r <= remaining:
                    signs[r - 1], remaining = 1.0, remaining - r
            d = signs * np.arange(1, n + 1)
            assert table[k] == pytest.approx(st.wilcoxon(d, method="exact").pvalue, rel=RTOL)


def test_corrections_match_independent_references(kirc):
    T, N = kirc
    p = deg.wilcoxon_signed_rank(T, N).pvalue
    np.testing.assert_allclose(deg.adjust_pvalues(p, "bonferroni"), np.minimum(p * len(p), 1.0), rtol=1e-12)
    np.testing.assert_allclose(deg.adjust_pvalues(p, "fdr_bh"), st.false_discovery_control(p, method="bh"), rtol=1e-10)


def _obs(n_pairs=6, extra_tumours=0):
    rows = []
    for i in range(n_pairs):
        rows += [(f"P{i}", "tumor"), (f"P{i}", "normal")]
    rows += [(f"Q{i}", "tumor") for i in range(extra_tumours)]
    return pd.DataFrame(rows, columns=["patient", "condition"], index=[f"s{i}" for i in range(len(rows))])


def _design(obs, design="auto", min_pairs=5, min_group=3):
    return deg.choose_design(obs, condition_column="condition", patient_column="patient", tumour_label="tumor",
                             normal_label="normal", design=design, min_pairs=min_pairs,
                             min_samples_per_group=min_group, file="x.h5ad")


def test_design_choice():
    d = _design(_obs(6, extra_tumours=2))
    assert d.kind == "paired" and d.n_pairs == 6
    assert (_obs(6, 2)["patient"].iloc[d.tumour].to_numpy() == _obs(6, 2)["patient"].iloc[d.normal].to_numpy()).all()
    d = _design(_obs(4, extra_tumours=3))
    assert d.kind == "unpaired" and len(d.tumour) == 7 and "only 4 matched pairs" in d.note
    assert _design(_obs(6), design="unpaired").kind == "unpaired"
    with pytest.raises(InputError, match="deg.design: unpaired"):
        _design(_obs(4, 3), design="paired")


def test_design_counts_what_it_does_not_use():
    """A named synthetic sheet: 6 pairs, 2 tumours without a normal, a second tumour of patient P0,
    a metastasis (label not in the contrast), a missing label and a tumour without a patient id."""
    obs = _obs(6, extra_tumours=2)
    extra = pd.DataFrame([("P0", "tumor"), ("P1", "metastatic"), ("P2", None), (None, "tumor")],
                         columns=["patient", "condition"], index=["x0", "x1", "x2", "x3"])
    obs = pd.concat([obs, extra])
    d = _design(obs)
    assert d.kind == "paired" and d.n_pairs == 6 and d.group_a == "tumor"
    rows, text = deg.usage_summary(d)
    got = dict(rows)
    assert got["samples_total"] == 18 and got["samples_used"] == 12 and got["samples_unused"] == 6
    assert got["unused_group_a_no_matched_pair"] == 2 and got["unused_group_a_extra_sample_of_patient"] == 1
    assert got["unused_group_a_no_patient_id"] == 1 and got["unused_other_not_in_contrast"] == 1
    assert got["unused_other_missing_label"] == 1
    assert "2 'tumor' samples without a matched 'normal' sample" in text and "'metastatic' samples" in text
    u = _design(obs, design="unpaired")  # every sample of both groups
    assert len(u.tumour) == 10 and len(u.normal) == 6
    assert dict(deg.usage_summary(u)[0])["samples_unused"] == 2  # the metastasis and the missing label


def test_design_bad_inputs():
    obs = _obs(6)
    with pytest.raises(InputError, match=r"0 samples labelled 'normal'.*tumor \(6\)"):
        _design(obs[obs.condition == "tumor"])
    with pytest.raises(InputError, match="at least 8 per group"):
        _design(obs, min_group=8)
    with pytest.raises(InputError, match="condition column not found"):
        deg.choose_design(obs, condition_column="status", patient_column="patient", tumour_label="tumor",
                          normal_label="normal", design="auto", min_pairs=5, min_samples_per_group=3)


def test_call_degs_table_fold_change_and_flags(kirc):
    T, N = kirc
    X = np.concatenate([T, N], axis=1).T  # samples x genes, log2(x+1)
    k = T.shape[1]
    design = deg.Design("paired", np.arange(k), np.arange(k, 2 * k), k, "paired")
    var = pd.DataFrame({"symbol": [f"g{i}" for i in range(X.shape[1])]}, index=[f"g{i}" for i in range(X.shape[1])])
    table = deg.call_degs(X, var, design, alpha=0.05, correction="bonferroni", log2fc_threshold=1.5)
    lin_t, lin_n = (2 ** T - 1).mean(axis=1), (2 ** N - 1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log2(lin_t / lin_n)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(table["log2fc"].to_numpy()[finite], expected[finite], rtol=1e-12)
    assert (table["deg_test"] == (table["p_bonferroni"] <= 0.05)).all()
    assert (table["deg_fold_change"] == (table["log2fc"].abs() >= 1.5)).all()
    assert (table["deg"] == (table["deg_test"] & table["deg_fold_change"])).all()
    assert 0 < table["deg"].sum() < len(table)
    # CA9 is up in clear-cell RCC: positive log2fc = higher in tumour.
    symbols = pd.read_csv(REPO / "resources/tcga/kirc_paired_log2rsem.tsv.gz", sep="\t", usecols=[0]).iloc[:, 0]
    ca9 = int(np.flatnonzero(symbols.to_numpy() == "CA9")[0])
    assert table.loc[ca9, "log2fc"] > 3 and table.loc[ca9, "deg"]


def test_log2fc_zero_means_are_never_infinite():
    """auto: no pseudo-count where both means are positive, 1 where a group mean is 0."""
    fc = deg.log2_fold_change(np.array([0.0, 4.0, 0.0, 8.0]), np.array([0.0, 0.0, 2.0, 2.0]))
    np.testing.assert_allclose(fc, [0.0, np.log2(5.0), -np.log2(3.0), 2.0])
    fc = deg.log2_fold_change(np.array([0.0, 4.0, 8.0]), np.array([0.0, 0.0, 2.0]), pseudo_count=0.5)
    np.testing.assert_allclose(fc, [0.0, np.log2(4.5 / 0.5), np.log2(8.5 / 2.5)])
    with np.errstate(divide="ignore"):
        assert np.isinf(deg.log2_fold_change(np.array([4.0]), np.array([0.0]), pseudo_count=0)).all()


def test_welch_t_is_scipys_ttest_ind(kirc):
    from scipy.stats import ttest_ind

    T, N = kirc[0][:50], kirc[1][:50]  # genes x samples, real KIRC tumours and normals
    res = deg.welch_t(T, N)
    for i in range(50):
        want = ttest_ind(T[i], N[i], equal_var=False)
        assert res.pvalue[i] == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)
        assert res.statistic[i] == pytest.approx(want.statistic, rel=1e-9)
    from scipy.stats import ttest_rel

    paired = deg.welch_t(T, N, paired=True)  # column i of T and N is patient i's pair
    for i in range(50):
        assert paired.pvalue[i] == pytest.approx(ttest_rel(T[i], N[i]).pvalue, rel=1e-9, abs=1e-300)


def test_smallest_p_of_exact_rank_tests():
    from math import comb

    from scipy.stats import mannwhitneyu, wilcoxon

    assert deg.smallest_p("unpaired", 5, 5) == pytest.approx(2 / comb(10, 5))  # 0.0079
    a, b = np.arange(5.0), np.arange(5.0) + 10  # complete separation: scipy's exact p is the floor
    assert mannwhitneyu(a, b, method="exact").pvalue == pytest.approx(deg.smallest_p("unpaired", 5, 5))
    assert wilcoxon(np.arange(1.0, 7.0), method="exact").pvalue == pytest.approx(deg.smallest_p("paired", 6, 6))
    assert deg.smallest_p("unpaired", 5, 5, "welch") is None and deg.smallest_p("paired", 14, 14, "deseq2") is None
    # one group <= 8 samples is still exact in scipy (5 vs 30), both > 8 the normal approximation
    assert deg.smallest_p("unpaired", 5, 30) == pytest.approx(2 / comb(35, 5))
    assert mannwhitneyu(np.arange(5.0), np.arange(30.0) + 10).pvalue == pytest.approx(deg.smallest_p("unpaired", 5, 30))
    assert mannwhitneyu(np.arange(20.0), np.arange(20.0) + 100).pvalue == pytest.approx(
        deg.smallest_p("unpaired", 20, 20), rel=1e-12)
    assert wilcoxon(np.arange(1.0, 61.0)).pvalue == pytest.approx(deg.smallest_p("paired", 60, 60), rel=1e-12)


def test_ties_can_go_below_the_untied_floor():
    """Tied genes take the tie-corrected normal approximation, whose extreme is below the exact
    floor for 5 vs 5 (every value of each group tied): the bound is scipy's p for that gene."""
    from scipy.stats import mannwhitneyu, wilcoxon

    tied = mannwhitneyu(np.zeros(5), np.ones(5)).pvalue
    assert deg.smallest_p_with_ties("unpaired", 5, 5) == pytest.approx(tied, rel=1e-12) and tied < 2 / 252
    assert deg.smallest_p_with_ties("paired", 60, 60) == pytest.approx(wilcoxon(np.ones(60)).pvalue, rel=1e-12)
    for n in (14, 20, 50):  # tied paired genes stay above 2 / 2^n while the exact test applies
        assert deg.smallest_p_with_ties("paired", n, n) == deg.smallest_p("paired", n, n) == 2 / 2 ** n
        assert wilcoxon(np.ones(n)).pvalue > 2 / 2 ** n


def _at_floor(m, k, floor):
    """A named synthetic DEG table of m genes, k of them at p = floor, the rest at p = 1, adjusted by statsmodels."""
    p = np.r_[np.full(k, floor), np.ones(m - k)]
    return pd.DataFrame({"pvalue": p, "p_bh": deg.adjust_pvalues(p, "fdr_bh")})


def test_floor_check_bonferroni_and_bh_against_statsmodels():
    """14 pairs over 23,600 genes: floor 2 / 2^14; Bonferroni's best is m * floor > 0.05 whatever the
    data (statsmodels on a gene at the floor agrees); BH needs K = ceil(m * floor / alpha) genes at
    the floor, exactly where statsmodels' BH first passes them."""
    from math import ceil

    from statsmodels.stats.multitest import multipletests

    m, floor, alpha = 23_600, 2 / 2 ** 14, 0.05
    design = deg.Design("paired", np.arange(14), np.arange(14, 28), 14, "paired Wilcoxon signed-rank on 14 pairs")
    params = {"alpha": alpha, "method": "wilcoxon"}
    best = multipletests(np.r_[floor, np.ones(m - 1)], method="bonferroni")[1][0]
    need = ceil(m * floor / alpha)
    assert multipletests(np.r_[np.full(need, floor), np.ones(m - need)], method="fdr_bh")[1][0] <= alpha
    assert multipletests(np.r_[np.full(need - 1, floor), np.ones(m - need + 1)], method="fdr_bh")[1][0] > alpha
    bonf = deg.floor_check(design, _at_floor(m, need, floor), {**params, "correction": "bonferroni"})
    assert bonf["floor"] == floor and bonf["best_adjusted"] == pytest.approx(best) and not bonf["reachable"]
    msg = bonf["message"]
    assert "no gene can pass" in msg and "smallest p-value this design allows is 0.000122" in msg
    assert f"passes {need} genes here" in msg  # BH instead, with the data's count
    assert f"at most {int(alpha / floor)} genes tested" in msg and ">= 20 matched pairs" in msg
    assert 23_600 * 2 / 2 ** 20 <= alpha < 23_600 * 2 / 2 ** 19
    # BH: enough genes at the floor pass, so not flagged; one fewer and none passes: flagged, saying how many it needs
    assert deg.floor_check(design, _at_floor(m, need, floor), {**params, "correction": "fdr_bh"})["reachable"]
    bh = deg.floor_check(design, _at_floor(m, need - 1, floor), {**params, "correction": "fdr_bh"})
    assert not bh["reachable"] and f"at least {need} of them" in bh["message"]
    # Reachable: 20 pairs under Bonferroni over the same genes
    d20 = deg.Design("paired", np.arange(20), np.arange(20, 40), 20, "20 pairs")
    assert deg.floor_warning(d20, _at_floor(m, 1, 2 / 2 ** 20), {**params, "correction": "bonferroni"}) is None
    assert deg.floor_warning(design, _at_floor(m, 1, floor), {**params, "correction": "bonferroni",
                                                               "method": "welch"}) is None


def test_floor_on_real_pairs_14_flagged_72_reachable(kirp, kirc):
    """Real KIRP pairs: 14 of them over 17,759 genes are flagged under Bonferroni, and BH (which
    passes genes here: many genes reach the floor) is not; all 72 KIRC pairs are reachable."""
    T, N = kirp[0][:, :14], kirp[1][:, :14]
    X = np.concatenate([T, N], axis=1).T
    var = pd.DataFrame({"symbol": [f"g{i}" for i in range(X.shape[1])]}, index=[f"g{i}" for i in range(X.shape[1])])
    design = deg.Design("paired", np.arange(14), np.arange(14, 28), 14, "paired Wilcoxon signed-rank on 14 pairs")
    table = deg.call_degs(X, var, design, alpha=0.05, correction="bonferroni", log2fc_threshold=1.0)
    params = {"alpha": 0.05, "method": "wilcoxon"}
    bonf = deg.floor_check(design, table, {**params, "correction": "bonferroni"})
    assert not bonf["reachable"] and not table["deg_test"].any()
    assert table["pvalue"].min() >= 2 / 2 ** 14 * (1 - 1e-12)  # the floor holds for every gene, tied or not
    bh_passes = int((table["p_bh"] <= 0.05).sum())
    assert bh_passes > 0 and f"passes {bh_passes} genes here" in bonf["message"]
    assert deg.floor_check(design, table, {**params, "correction": "fdr_bh"})["reachable"]
    T, N = kirc
    k = T.shape[1]
    d72 = deg.Design("paired", np.arange(k), np.arange(k, 2 * k), k, "72 pairs")
    table = deg.call_degs(np.concatenate([T, N], axis=1).T, pd.DataFrame({"symbol": np.arange(len(T)).astype(str)}),
                          d72, alpha=0.05, correction="bonferroni", log2fc_threshold=1.0)
    assert deg.floor_check(d72, table, {**params, "correction": "bonferroni"})["reachable"]


def test_gbm_vs_lgg_five_vs_five_cannot_pass_bh_and_is_named_by_its_groups():
    """Real counts, 5 TCGA-GBM vs 5 TCGA-LGG (log2(x + 1)), BH: the rank-sum floor 2/252 cannot
    pass; the warning keeps the wording tests/workflow/test_own_cohort.py checks and names the
    groups, never tumour/normal."""
    expr = pd.read_csv(REPO / "resources/tcga/gbm_lgg_rsem_rawcount.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(REPO / "resources/tcga/gbm_lgg_samples.tsv", sep="\t", dtype=str)
    sheet = pd.concat([sheet[sheet.project_id == "TCGA-GBM"].head(5), sheet[sheet.project_id == "TCGA-LGG"].head(5),
                       sheet[sheet.project_id == "TCGA-LGG"].iloc[5:7].assign(project_id=np.nan)])
    obs = sheet.set_index("sample_barcode")
    design = deg.choose_design(obs, condition_column="project_id", patient_column="patient_barcode",
                               tumour_label="TCGA-GBM", normal_label="TCGA-LGG", design="unpaired", min_pairs=5,
                               min_samples_per_group=3)
    assert "5 TCGA-GBM vs 5 TCGA-LGG" in design.note and "tumour" not in design.note
    rows, text = deg.usage_summary(design)
    assert dict(rows)["unused_other_missing_label"] == 2 and "2 samples: no label in the contrast column" in text
    X = np.log2(expr[obs.index].to_numpy().T + 1)
    var = pd.DataFrame({"symbol": expr.index}, index=expr.index)
    table = deg.call_degs(X, var, design, alpha=0.05, correction="fdr_bh", log2fc_threshold=1.0)
    msg = deg.floor_warning(design, table, {"alpha": 0.05, "correction": "fdr_bh", "method": "wilcoxon"})
    assert "0.00794" in msg and "no gene can pass" in msg and "smallest p-value this design allows" in msg
    assert not table["deg_test"].any() and "TCGA-GBM" in msg
    ds, params = {"condition_column": "condition"}, {"tumour_label": "tumor", "normal_label": "normal"}
    assert deg.group_names(ds, {**params, "contrast": {"column": "project_id", "groups": ["TCGA-GBM", "TCGA-LGG"]}}
                           ) == ("TCGA-GBM", "TCGA-LGG")
    assert deg.group_names(ds, params) == ("tumour", "normal")


def test_corrections_are_statsmodels(kirc):
    from statsmodels.stats.multitest import multipletests

    p = deg.wilcoxon_signed_rank(*kirc).pvalue
    for method in ("bonferroni", "fdr_bh"):
        np.testing.assert_array_equal(deg.adjust_pvalues(p, method), multipletests(p, method=method)[1])


def test_deseq2_wald_test_equals_a_statsmodels_negative_binomial_glm():
    """pydeseq2 through gexflow's wrapper on real counts (5 GBM vs 5 LGG, RSEM expected counts):
    with DESeq2's own size factors and dispersions, its log2 FC and Wald p are those of a
    negative-binomial GLM fitted by statsmodels (log link, offset log size factor)."""
    import statsmodels.api as sm
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference

    expr = pd.read_csv(REPO / "resources/tcga/gbm_lgg_rsem_rawcount.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(REPO / "resources/tcga/gbm_lgg_samples.tsv", sep="\t", dtype=str)
    a = sheet.loc[sheet.project_id == "TCGA-GBM", "sample_barcode"][:5].tolist()
    b = sheet.loc[sheet.project_id == "TCGA-LGG", "sample_barcode"][:5].tolist()
    counts = expr[a + b].drop_duplicates()
    counts = counts[(counts.mean(axis=1) > 50)].iloc[:40]  # 40 expressed genes keep it fast
    counts.loc["ALL_ZERO"] = 0  # DESeq2 gives it NA: counted with its reason
    var = pd.DataFrame({"symbol": counts.index}, index=counts.index)
    obs = pd.DataFrame({"project_id": ["GBM"] * 5 + ["LGG"] * 5}, index=a + b)
    design = deg.Design("unpaired", np.arange(5), np.arange(5, 10), 0, "5 vs 5")
    table = deg.deseq2(counts.to_numpy().T, var, obs, design, column="project_id", groups=("GBM", "LGG"),
                       alpha=0.05, correction="fdr_bh", log2fc_threshold=1.0)
    # the oracle: DESeq2's size factors and final dispersions, the GLM fitted by statsmodels
    rounded = pd.DataFrame(np.round(counts.to_numpy().T).astype(int), index=a + b, columns=counts.index)
    dds = DeseqDataSet(counts=rounded, metadata=pd.DataFrame({"group": ["a"] * 5 + ["b"] * 5}, index=a + b),
                       design="~group", inference=DefaultInference(n_cpus=1), quiet=True)
    dds.deseq2()
    sf, disp = dds.obs["size_factors"].to_numpy(), np.asarray(dds.var["dispersions"])
    X = sm.add_constant(np.r_[np.ones(5), np.zeros(5)])
    ok = table["test_method"] == "deseq2_wald"
    assert ok.sum() >= 35
    for j in np.flatnonzero(ok.to_numpy()):
        fit = sm.GLM(rounded.iloc[:, j].to_numpy(), X, family=sm.families.NegativeBinomial(alpha=disp[j]),
                     offset=np.log(sf)).fit(tol=1e-12)
        assert table["log2fc"].iloc[j] == pytest.approx(fit.params[1] / np.log(2), rel=1e-4, abs=1e-4)
        assert table["pvalue"].iloc[j] == pytest.approx(fit.pvalues[1], rel=1e-3, abs=1e-8)
    assert (table.loc[~ok, "pvalue"] == 1).all()
    assert table.set_index("gene_id").at["ALL_ZERO", "test_method"] == "deseq2_na_all_zero"
    assert set(table.loc[~ok, "test_method"]) <= {"deseq2_na_all_zero", "deseq2_na_cooks_outlier", "deseq2_na_other"}
