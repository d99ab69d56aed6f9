"""gexflow.io: atomic writes (permissions follow the umask, orphaned temporary files are cleaned
up, a failed write leaves nothing), byte-reproducible tables, and the integrity records every
intermediate carries: a reader refuses a changed, damaged or unrecorded file with one line naming
the rule to rerun."""

import os

import numpy as np
import pandas as pd
import pytest

from gexflow.errors import InputError
from gexflow.io import atomic_path, write_tsv


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
        assert (tmp_path / "t.tsv").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "u.tsv")
        assert (tmp_path / "u.tsv").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_orphaned_part_files_of_the_same_output_are_removed(tmp_path):
    orphan = tmp_path / ".filtered.h5ad.abc123.part.h5ad"  # as a kill -9 mid-write leaves it
    other = tmp_path / ".other.h5ad.abc123.part.h5ad"
    orphan.write_text("half")
    other.write_text("half")
    with atomic_path(tmp_path / "filtered.h5ad") as tmp:
        tmp.write_text("whole")
    assert (tmp_path / "filtered.h5ad").read_text() == "whole"
    assert not orphan.exists() and other.exists()  # only the same output's leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.h5ad.abc123.part.h5ad", "filtered.h5ad"]


def test_failed_write_leaves_nothing(tmp_path):
    try:
        with atomic_path(tmp_path / "x.tsv") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- intermediates and their records
def test_writers_record_a_sha256_the_readers_check(tmp_path):
    import anndata as ad

    from gexflow.io import read_h5ad, read_intermediate, read_json, sha256_file, sidecar, write_h5ad, write_json

    d = tmp_path / "deg-0123abcd"
    write_tsv(pd.DataFrame({"gene_id": ["a", "b"], "deg": [True, False]}), d / "degs.tsv")
    write_json({"model": "cvae", "fold": 0}, d / "model_card.json")
    write_h5ad(ad.AnnData(X=np.eye(2, dtype=np.float32)), d / "synthetic.h5ad")
    for name in ("degs.tsv", "model_card.json", "synthetic.h5ad"):
        assert sidecar(d / name).read_text().strip() == sha256_file(d / name), name
    assert read_intermediate(d / "degs.tsv")["gene_id"].tolist() == ["a", "b"]
    assert read_json(d / "model_card.json") == {"fold": 0, "model": "cvae"}
    assert read_h5ad(d / "synthetic.h5ad").shape == (2, 2)


def test_gzipped_tables_are_byte_reproducible(tmp_path):
    df = pd.DataFrame({"a": range(100), "b": ["x"] * 100})
    write_tsv(df, tmp_path / "a.tsv.gz")
    write_tsv(df, tmp_path / "sub" / "b.tsv.gz")  # another name and time: the same bytes
    assert (tmp_path / "a.tsv.gz").read_bytes() == (tmp_path / "sub" / "b.tsv.gz").read_bytes()


@pytest.mark.parametrize("path, rule", [
    ("results/kirc/deg-0123abcd/degs.tsv", "call_degs"),
    ("results/kirc/filter-0123abcd/filtered.h5ad", "filter_normalise"),
    ("results/kirc/select-kegg_rcc-0123abcd/genes.tsv", "select_genes"),
    ("results/kirc/infer-x-0123abcd/learned-0123abcd/fold_0/genes.tsv", "learn_landmarks"),
    ("results/kirc/split-0123abcd/split.tsv", "split_samples"),
    ("results/kirc/generate-x-0123abcd/cvae-0123abcd/fold_0/synthetic.h5ad", "train_generator"),
])
def test_an_unrecorded_or_changed_intermediate_names_the_rule_to_rerun(tmp_path, path, rule):
    from gexflow.experiment import read_gene_list
    from gexflow.io import read_h5ad, read_intermediate, sidecar, write_h5ad

    dest = tmp_path / path
    if dest.suffix == ".h5ad":
        import anndata as ad

        write_h5ad(ad.AnnData(X=np.eye(2, dtype=np.float32)), dest)
        read = read_h5ad
    else:
        write_tsv(pd.DataFrame({"gene_id": ["TP53"], "symbol": ["TP53"], "source": ["x"]}), dest)
        read = read_gene_list if dest.name == "genes.tsv" else read_intermediate
    read(dest)
    dest.write_bytes(dest.read_bytes() + b"\n")
    with pytest.raises(InputError) as e:
        read(dest)
    msg = str(e.value)
    assert msg.startswith(f"{dest}: field '(whole file)': changed or damaged") and f"--forcerun {rule}`" in msg
    sidecar(dest).unlink()
    with pytest.raises(InputError, match=rf"has no integrity record.*--forcerun {rule}`"):
        read(dest)


def test_a_gene_list_without_gene_ids_is_refused(tmp_path):
    from gexflow.experiment import read_gene_list

    write_tsv(pd.DataFrame({"symbol": ["TP53"]}), tmp_path / "select-x-0123abcd" / "genes.tsv")
    with pytest.raises(InputError, match="field 'gene_id': column missing"):
        read_gene_list(tmp_path / "select-x-0123abcd" / "genes.tsv")


def test_a_model_card_that_is_not_json_is_refused(tmp_path):
    from gexflow.io import read_json, write_sidecar

    card = tmp_path / "model_card.json"
    card.write_text("{not json")
    write_sidecar(card)  # recorded, but not JSON
    with pytest.raises(InputError, match=r"field '\(whole file\)': is not valid JSON"):
        read_json(card)


def _copy_intermediate(filtered, tmp_path, damage=None):
    import shutil

    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    dest = d / "filtered.h5ad"
    shutil.copy(filtered, dest)
    shutil.copy(filtered.with_name(".filtered.h5ad.sha256"), d / ".filtered.h5ad.sha256")
    if damage == "truncate":
        dest.write_bytes(dest.read_bytes()[:5000])
    elif damage == "flip":
        data = bytearray(dest.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dest.write_bytes(bytes(data))
    elif damage == "truncate_unrecorded":
        dest.write_bytes(dest.read_bytes()[:5000])
        (d / ".filtered.h5ad.sha256").unlink()
    return dest


@pytest.mark.parametrize("damage", ["truncate", "flip", "truncate_unrecorded"])
def test_damaged_intermediate_stops_the_reading_rule_naming_the_step_to_rerun(tmp_path, kirc_filtered, tiny_paths,
                                                                             damage):
    """A damaged filtered.h5ad read by call_degs (run as its rule runs it): exit 1, one line
    naming the file and `--forcerun filter_normalise`, no output."""
    from gexflow.stages.deg import call_degs

    from conftest import assert_one_clear_error, make_job, run_as_rule

    h5ad = _copy_intermediate(kirc_filtered, tmp_path, damage)
    out = tmp_path / "out"
    job = make_job("call_degs", input={"h5ad": h5ad}, params=tiny_paths.deg_params("kirc_subset"),
                   output={"table": out / "degs.tsv", "summary": out / "summary.tsv", "volcano": out / "volcano.png"},
                   wildcards={"dataset": "kirc_subset"}, log=tmp_path / "logs" / "deg.log")
    assert_one_clear_error(run_as_rule(job, call_degs), "filtered.h5ad", "(whole file)",
                           words=["--forcerun filter_normalise"], out=out, root=tmp_path)
