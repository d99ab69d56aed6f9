"""Atomic writes: permissions follow the umask, orphaned temporary files are cleaned up."""

import os

import pandas as pd

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
