"""The embedded bundle: every shipped file matches resources/SHA256SUMS, and tampering is caught."""

import shutil

import pytest

from gexflow.errors import InputError
from gexflow.io import read_sha256sums, sha256_file
from gexflow.staging import verify_shipped

from conftest import REPO


@pytest.mark.parametrize("sums_file", [REPO / "resources/SHA256SUMS", REPO / "tests/data/SHA256SUMS"])
def test_shipped_files_match_sha256sums(sums_file):
    sums = read_sha256sums(sums_file)
    assert sums, "empty SHA256SUMS"
    for rel, digest in sums.items():
        assert sha256_file(sums_file.parent / rel) == digest, rel


def test_every_data_file_is_listed_and_documented():
    sums = read_sha256sums(REPO / "resources/SHA256SUMS")
    shipped = {p.relative_to(REPO / "resources").as_posix() for d in ("tcga", "gtex", "genesets", "scrna", "geo")
               for p in (REPO / "resources" / d).iterdir()}
    assert shipped == set(sums)
    provenance = (REPO / "resources/SOURCES.md").read_text()
    for rel, digest in sums.items():
        assert rel in provenance and digest in provenance, rel


def test_modified_file_is_refused(tmp_path):
    src = REPO / "resources/tcga/kirc_paired_samples.tsv"
    (tmp_path / "tcga").mkdir()
    copy = tmp_path / "tcga" / src.name
    shutil.copyfile(src, copy)
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(src)}  tcga/{src.name}\n")
    verify_shipped(copy, tmp_path / "SHA256SUMS")  # intact: accepted
    copy.write_bytes(copy.read_bytes().replace(b"female", b"male", 1))
    with pytest.raises(InputError, match="sha256.*corrupt or was modified"):
        verify_shipped(copy, tmp_path / "SHA256SUMS")
