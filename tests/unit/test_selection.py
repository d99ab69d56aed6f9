"""Gene selection on the real KIRC pairs: KEGG pathway coverage, L1000 landmarks, DEGs, set algebra."""

import numpy as np
import pandas as pd
import pytest

from gexflow import selection
from gexflow.errors import InputError
from gexflow.identifiers import gene_table
from gexflow.staging import KEGG_RENAME, L1000_RENAME

from conftest import REPO

GENESETS = REPO / "resources/genesets"


@pytest.fixture(scope="module")
def kirc_var():
    genes = pd.read_csv(REPO / "resources/tcga/kirc_paired_log2rsem.tsv.gz", sep="\t", usecols=[0])
    ann = genes.set_index(genes["gene_symbol"].rename("gene_id"))
    return gene_table(ann, {"gene_id_type": "symbol"}, GENESETS / "entrez_symbol_map_orghs_3.16.tsv.gz")


@pytest.fixture(scope="module")
def kegg():
    return pd.read_csv(GENESETS / "kegg_hsa_pathways_gagedata2017.tsv", sep="\t", dtype=str).rename(columns=KEGG_RENAME)


def test_kegg_rcc_and_glioma_coverage_match_provenance(kirc_var, kegg):
    # resources/SOURCES.md: the KIRC table holds 64/70 hsa05211 and 61/65 hsa05214 genes.
    genes, cov = selection.select_kegg(kegg, kirc_var, ["hsa05211", "hsa05214"])
    cov = cov.set_index("set")
    assert (cov.loc["hsa05211", "in_set"], cov.loc["hsa05211", "found_in_data"]) == (70, 64)
    assert (cov.loc["hsa05214", "in_set"], cov.loc["hsa05214", "found_in_data"]) == (65, 61)
    assert cov.loc["hsa05211", "missing"] == 6 and len(cov.loc["hsa05211", "missing_genes"].split(",")) == 6
    assert genes["gene_id"].is_unique and set(genes["gene_id"]) <= set(kirc_var.index)
    assert genes.loc[genes.symbol == "VHL", "source"].item() == "kegg:hsa05211"
    both = genes[genes.source.str.contains(";")]
    assert len(both) > 0  # genes in both pathways are listed once with both sources


def test_unknown_pathway_lists_close_matches(kirc_var, kegg):
    with pytest.raises(InputError, match=r"unknown KEGG pathway 'hsa05212x'.*hsa05212") as e:
        selection.select_kegg(kegg, kirc_var, ["hsa05212x"])
    assert "select.sets" in str(e.value)


def test_l1000_landmarks_in_kirc(kirc_var):
    lm = pd.read_csv(GENESETS / "l1000_landmark_genes_978.tsv", sep="\t", dtype=str).rename(columns=L1000_RENAME)
    genes, cov = selection.select_l1000(lm, kirc_var)
    assert cov["in_set"].item() == 978
    assert len(genes) == cov["found_in_data"].item() == 451  # SOURCES.md: 451/978 landmarks


def _degs():
    return pd.DataFrame({"gene_id": list("abcde"), "symbol": list("ABCDE"), "pvalue": [0.01, 0.001, 0.5, 0.002, 0.0001],
                         "p_bonferroni": [0.05, 0.005, 1.0, 0.01, 0.0005],
                         "p_bh": [0.0125, 0.0025, 0.5, 0.0033, 0.0005],
                         "deg": [True, True, False, True, True]})


def test_deg_selection_orders_by_adjusted_p_and_top_n():
    genes, cov = selection.select_degs(_degs(), top_n=None, correction="bonferroni")
    assert genes["gene_id"].tolist() == ["e", "b", "d", "a"]
    genes, _ = selection.select_degs(_degs(), top_n=2, correction="fdr_bh")
    assert genes["gene_id"].tolist() == ["e", "b"]


def test_empty_deg_set_suggests_a_looser_threshold():
    with pytest.raises(InputError, match="empty.*loosen `deg.alpha`, `deg.log2fc_threshold`"):
        selection.select_degs(_degs().assign(deg=False), top_n=None, correction="bonferroni")


def test_union_and_intersection():
    a = pd.DataFrame({"gene_id": ["x", "y"], "symbol": ["X", "Y"], "source": "kegg:hsa05211"})
    b = pd.DataFrame({"gene_id": ["y", "z"], "symbol": ["Y", "Z"], "source": "deg"})
    u = selection.combine([a, b], "union")
    assert u["gene_id"].tolist() == ["x", "y", "z"]
    assert u.set_index("gene_id").loc["y", "source"] == "kegg:hsa05211;deg"
    i = selection.combine([a, b], "intersection")
    assert i["gene_id"].tolist() == ["y"]


def test_coverage_never_lists_nan(kirc_var):
    """Real landmarks with the symbol of the two not found blanked: named by Entrez id, never 'nan'."""
    lm = pd.read_csv(GENESETS / "l1000_landmark_genes_978.tsv", sep="\t", dtype=str).rename(columns=L1000_RENAME)
    _, cov = selection.select_l1000(lm, kirc_var)
    missing = cov["missing_genes"].item().split(",")
    lm.loc[lm["symbol"].isin(missing[:2]), ["symbol", "symbol_lincs"]] = np.nan
    _, cov = selection.select_l1000(lm, kirc_var)
    names = cov["missing_genes"].item().split(",")
    assert "nan" not in names and sum(n.startswith("entrez:") for n in names) == 2
    assert selection._names(pd.Series([np.nan, "", "A"])) == "A,(2 without a name)"
