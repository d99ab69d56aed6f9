"""Gene identifiers of users' matrices mapped to genes (org.Hs.eg.db 3.16 table shipped in
resources/), probes collapsed to genes, and user gene sets from GMT files. Real ids and the real
GPL97 annotation; the small expression matrix of the collapse test is synthetic (named so)."""

import numpy as np
import pandas as pd
import pytest

from gexflow import identifiers, selection
from gexflow.errors import InputError

from conftest import REPO

REF = identifiers.read_reference(REPO / "resources/genesets/entrez_symbol_map_orghs_3.16.tsv.gz")


def test_symbol_entrez_composites_are_parsed():
    m = identifiers.map_ids(["TP53|7157", "?|8225", "EGFR|999999999", "NOTAGENE|999999998"], "symbol_entrez", REF)
    assert m.loc["TP53|7157", ["symbol", "entrez_id", "status"]].tolist() == ["TP53", "7157", "mapped"]
    assert m.loc["?|8225", ["symbol", "status"]].tolist() == ["GTPBP6", "mapped"]  # symbol from the Entrez id
    assert m.loc["EGFR|999999999", ["entrez_id", "status"]].tolist() == ["1956", "mapped"]  # by its symbol
    assert m.loc["NOTAGENE|999999998", "status"] == "unmapped"


def test_ensembl_ids_with_and_without_version():
    m = identifiers.map_ids(["ENSG00000141510.17", "ENSG00000146648", "ENSG00000000000"], "ensembl", REF)
    assert m["symbol"].tolist()[:2] == ["TP53", "EGFR"] and m["entrez_id"].tolist()[:2] == ["7157", "1956"]
    assert m["status"].tolist() == ["mapped", "mapped", "unmapped"]


def test_entrez_and_symbol_ids():
    m = identifiers.map_ids(["7157", "1956", "0"], "entrez", REF)
    assert m["symbol"].tolist()[:2] == ["TP53", "EGFR"] and m["status"].tolist()[2] == "unmapped"
    m = identifiers.map_ids(["TP53", "EGFR", "XYZ123"], "symbol", REF)
    assert m["entrez_id"].tolist() == ["7157", "1956", ""]


def test_low_mapping_rate_names_the_expected_format():
    m = identifiers.map_ids(["A1BG|1", "A2M|2", "NAT1|9"], "symbol", REF)  # composites declared as symbols
    with pytest.raises(InputError, match="gene_id_type.*0% of 3 gene ids.*expected e.g. TP53"):
        identifiers.check_mapping_rate(m, "symbol", 0.5, "m.tsv")


def test_probes_map_through_the_platform_annotation_and_collapse():
    ann = identifiers.read_probe_annotation(REPO / "resources/geo/GPL97.annot.gz", "ID", "Gene symbol", "Gene ID")
    assert len(ann) == 22645
    several = ann[ann["entrez_id"].str.contains("///")]["probe"].iloc[0]
    none = ann[ann["entrez_id"] == ""]["probe"].iloc[0]
    gene = ann[(ann["entrez_id"] != "") & ~ann["entrez_id"].str.contains("///")]["symbol"].value_counts()
    sym = gene.index[gene.values > 1][0]  # a gene with two or more probes
    probes = ann.loc[ann["symbol"] == sym, "probe"].tolist()[:2]
    m = identifiers.map_probes([*probes, several, none], ann)
    assert m["status"].tolist() == ["mapped", "mapped", "ambiguous", "unmapped"]
    synthetic_X = np.array([[1.0, 10.0, 5.0, 7.0], [3.0, 20.0, 6.0, 8.0]])  # 2 samples x 4 probes
    X, genes = identifiers.collapse_probes(synthetic_X, m, "max_mean")
    assert genes.index.tolist() == [sym] and genes["probes"].tolist() == [2]
    np.testing.assert_array_equal(X[:, 0], [10.0, 20.0])  # the probe with the higher mean
    X, _ = identifiers.collapse_probes(synthetic_X, m, "mean")
    np.testing.assert_array_equal(X[:, 0], [5.5, 11.5])


def test_gmt_sets_select_the_same_genes_as_the_kegg_table():
    """The shipped KEGG build as GMT (symbols) and as the Entrez table give the same RCC genes."""
    expr = pd.read_csv(REPO / "resources/tcga/kirc_paired_log2rsem.tsv.gz", sep="\t", usecols=[0])
    var = identifiers.gene_table(pd.DataFrame(index=expr["gene_symbol"].astype(str)), {"gene_id_type": "symbol"},
               REPO / "resources/genesets/entrez_symbol_map_orghs_3.16.tsv.gz")
    gmt = REPO / "resources/genesets/kegg_hsa_pathways_gagedata2017_symbols.gmt"
    genes, coverage = selection.select_gmt(gmt, var, ["hsa05211"])
    kegg = pd.read_csv(REPO / "resources/genesets/kegg_hsa_pathways_gagedata2017.tsv", sep="\t", dtype=str)
    kegg = kegg.rename(columns={"symbol_orghs_2022": "symbol"})
    want, _ = selection.select_kegg(kegg, var, ["hsa05211"])
    a, b = set(genes["gene_id"]), set(want["gene_id"])
    assert len(a & b) / len(a | b) > 0.9 and coverage["set"].tolist() == ["hsa05211"]
    with pytest.raises(InputError, match="no gene set 'hsa0521' in the GMT file.*229 set names"):
        selection.select_gmt(gmt, var, ["hsa0521"])


def test_unknown_kegg_pathway_says_which_build_ships():
    kegg = pd.read_csv(REPO / "resources/genesets/kegg_hsa_pathways_gagedata2017.tsv", sep="\t", dtype=str)
    var = pd.DataFrame({"symbol": ["TP53"], "entrez_id": ["7157"]}, index=["TP53"])
    with pytest.raises(InputError, match="hsa05224.*KEGG 2017.*GMT file.*references.source: remote"):
        selection.select_kegg(kegg, var, ["hsa05224"], kegg_file="results/references/download-embedded-x/k.tsv")


def test_gene_lists_are_selected_by_symbol_entrez_or_id(tmp_path):
    """A learned-landmark genes.tsv (gene_id, symbol, source) or a plain list, as `method: list`."""
    var = pd.DataFrame({"symbol": ["TP53", "EGFR", "MYC"], "entrez_id": ["7157", "1956", "4609"]},
                       index=["TP53", "EGFR", "MYC"])
    learned = tmp_path / "genes.tsv"
    pd.DataFrame({"gene_id": ["TP53", "MYC", "NOPE"], "symbol": ["TP53", "MYC", "NOPE"],
                  "source": "learned"}).to_csv(learned, sep="\t", index=False)
    genes, coverage = selection.select_list(learned, var)
    assert genes["gene_id"].tolist() == ["TP53", "MYC"] and coverage["missing_genes"].iloc[0] == "NOPE"
    plain = tmp_path / "list.txt"
    plain.write_text("EGFR\nTP53\n")
    genes, _ = selection.select_list(plain, var)
    assert genes["gene_id"].tolist() == ["EGFR", "TP53"]
