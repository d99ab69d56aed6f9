"""HTTP path of the download stage against a local http.server on 127.0.0.1 serving fixture files."""

import gzip
import hashlib
import http.server
import threading

import pandas as pd
import pytest

from gexflow import download as dl

PAYLOAD = b"gene_symbol\tS1\nA1BG\t1.5\n" * 200  # synthetic fixture bytes, not biological data


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        behaviour = self.routes.get(self.path)
        if behaviour is None:
            self.send_error(404)
            return
        kind, body = behaviour
        if kind == "flaky" and self.hits[self.path] == 1:
            self.send_error(500, "synthetic server error")
            return
        if kind == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 2))  # promise more than is sent
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.routes = {"/ok.tsv": ("ok", PAYLOAD), "/flaky.tsv": ("flaky", PAYLOAD),
                       "/truncated.tsv": ("truncated", PAYLOAD)}
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def test_success_writes_file_and_verifies_checksum(server, tmp_path):
    base, _ = server
    dest = tmp_path / "out" / "ok.tsv"
    dl.fetch(f"{base}/ok.tsv", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["ok.tsv"]  # no temp file left


def test_500_then_success_is_retried(server, tmp_path):
    base, handler = server
    dest = tmp_path / "flaky.tsv"
    dl.fetch(f"{base}/flaky.tsv", dest, retries=2, backoff=0.01)
    assert dest.read_bytes() == PAYLOAD
    assert handler.hits["/flaky.tsv"] == 2


def test_500_without_retries_fails_and_leaves_nothing(server, tmp_path):
    base, _ = server
    dest = tmp_path / "flaky.tsv"
    with pytest.raises(dl.DownloadError, match="HTTP 500"):
        dl.fetch(f"{base}/flaky.tsv", dest, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_wrong_checksum_is_refused_and_nothing_left(server, tmp_path):
    base, handler = server
    dest = tmp_path / "ok.tsv"
    with pytest.raises(dl.DownloadError, match="does not match"):
        dl.fetch(f"{base}/ok.tsv", dest, sha256="0" * 64, retries=3, backoff=0.01)
    assert list(tmp_path.iterdir()) == []
    assert handler.hits["/ok.tsv"] == 1  # a checksum mismatch is not retried


def test_truncated_body_is_refused_and_nothing_left(server, tmp_path):
    base, handler = server
    dest = tmp_path / "truncated.tsv"
    with pytest.raises(dl.DownloadError, match="truncated"):
        dl.fetch(f"{base}/truncated.tsv", dest, retries=1, backoff=0.01)
    assert list(tmp_path.iterdir()) == []
    assert handler.hits["/truncated.tsv"] == 2


def test_no_network_names_the_embedded_option(tmp_path):
    # Port 9 on loopback: nothing listens, so the connection is refused at once.
    with pytest.raises(dl.DownloadError, match="source: embedded"):
        dl.fetch("http://127.0.0.1:9/x.tsv", tmp_path / "x.tsv", retries=1, backoff=0.01, timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_unresolvable_host_is_not_retried_and_names_the_config_key(tmp_path):
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch("http://gexflow-test.invalid/x.tsv", tmp_path / "x.tsv", retries=3, backoff=5,
                 field="references.source")
    msg = str(e.value)
    assert "after 1 attempt(s)" in msg and "host name not resolved" in msg  # no 5 + 10 + 20 s of retries
    assert "field 'references.source'" in msg and "`references.source: embedded`" in msg and "Fix:" in msg


def test_truncated_body_does_not_blame_the_network(server, tmp_path):
    base, handler = server
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch(f"{base}/truncated.tsv", tmp_path / "t.tsv", retries=0, field="datasets.kirc.source")
    assert "incomplete file" in str(e.value) and "field 'datasets.kirc.source'" in str(e.value)


def test_cache_is_reused_without_network(server, tmp_path):
    base, handler = server
    cache = tmp_path / "cache"
    dl.fetch(f"{base}/ok.tsv", tmp_path / "a.tsv", retries=0, cache_dir=cache)
    dl.fetch(f"{base}/ok.tsv", tmp_path / "b.tsv", retries=0, cache_dir=cache)
    assert handler.hits["/ok.tsv"] == 1
    assert (tmp_path / "b.tsv").read_bytes() == PAYLOAD


def test_corrupt_cache_entry_is_downloaded_again(server, tmp_path):
    base, handler = server
    cache = tmp_path / "cache"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dl.fetch(f"{base}/ok.tsv", tmp_path / "a.tsv", sha256=sha, retries=0, cache_dir=cache)
    cached = next(cache.rglob("ok.tsv"))
    cached.write_bytes(b"corrupted")
    dl.fetch(f"{base}/ok.tsv", tmp_path / "b.tsv", sha256=sha, retries=0, cache_dir=cache)
    assert handler.hits["/ok.tsv"] == 2
    assert (tmp_path / "b.tsv").read_bytes() == PAYLOAD


# --- parsers on small synthetic fixtures in each source's file layout ----------------------

def _gz(path, text):
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def test_prepare_xena_builds_sample_sheet_from_barcodes_and_clinical(tmp_path):
    expr = _gz(tmp_path / "HiSeqV2.gz", "sample\tTCGA-AA-0001-01\tTCGA-AA-0001-11\nG1\t1.0\t2.0\n")
    clin = _gz(tmp_path / "clin.gz", "sampleID\tgender\tage_at_initial_pathologic_diagnosis\tpathologic_stage\n"
                                    "TCGA-AA-0001-01\tMALE\t60\tStage I\nTCGA-AA-0001-11\tMALE\t60\tStage I\n")
    dl.prepare_xena(expr, clin, tmp_path / "e.tsv.gz", tmp_path / "s.tsv")
    s = pd.read_csv(tmp_path / "s.tsv", sep="\t", dtype=str)
    assert s["condition"].tolist() == ["tumor", "normal"]
    assert s["patient_barcode"].tolist() == ["TCGA-AA-0001"] * 2
    assert s["age_at_diagnosis_years"].tolist() == ["60", "60"]
    e = pd.read_csv(tmp_path / "e.tsv.gz", sep="\t")
    assert e.columns[0] == "gene_symbol"


def test_prepare_kegg_and_l1000(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("path:hsa05211\tRenal cell carcinoma - Homo sapiens (human)\n")
    link = tmp_path / "link.txt"
    link.write_text("path:hsa05211\thsa:7428\npath:hsa05211\thsa:2033\n")
    dl.prepare_kegg(lst, link, tmp_path / "kegg.tsv")
    k = pd.read_csv(tmp_path / "kegg.tsv", sep="\t", dtype=str)
    assert k["pathway_id"].tolist() == ["hsa05211"] * 2
    assert k["pathway_name"].iloc[0] == "Renal cell carcinoma"
    assert k["entrez_id"].tolist() == ["7428", "2033"]
    info = _gz(tmp_path / "gene_info.txt.gz", "pr_gene_id\tpr_gene_symbol\tpr_gene_title\tpr_is_lm\tpr_is_bing\n"
                                             "16\tAARS\talanyl\t1\t1\n17\tXX\tnot a landmark\t0\t1\n")
    dl.prepare_l1000(info, tmp_path / "l1000.tsv")
    lm = pd.read_csv(tmp_path / "l1000.tsv", sep="\t", dtype=str)
    assert lm["entrez_id"].tolist() == ["16"]


def test_prepare_gtex_gdc_cgga(tmp_path):
    gct = _gz(tmp_path / "reads.gct.gz", "#1.2\n1\t2\nName\tDescription\tGTEX-1\tGTEX-2\nENSG1\tG1\t5\t7\n")
    attrs = tmp_path / "attrs.txt"
    attrs.write_text("SAMPID\tSMTS\tSMTSD\nGTEX-1\tLung\tLung\nGTEX-2\tLiver\tLiver\nGTEX-3\tLung\tLung\n")
    dl.prepare_gtex(gct, attrs, tmp_path / "g.tsv.gz", tmp_path / "gs.tsv", tissues=["Lung"])
    assert pd.read_csv(tmp_path / "g.tsv.gz", sep="\t").columns.tolist() == ["gene_id", "gene_symbol", "GTEX-1"]
    assert pd.read_csv(tmp_path / "gs.tsv", sep="\t")["sample_id"].tolist() == ["GTEX-1"]

    gdc = _gz(tmp_path / "pancan.tsv.gz", "gene_id\tTCGA-AA-0001-01A\nA1BG|1\t3.0\n")
    dl.prepare_gdc_matrix(gdc, tmp_path / "d.tsv.gz", tmp_path / "ds.tsv")
    assert pd.read_csv(tmp_path / "d.tsv.gz", sep="\t")["gene_symbol"].tolist() == ["A1BG"]
    assert pd.read_csv(tmp_path / "ds.tsv", sep="\t")["condition"].tolist() == ["tumor"]

    import zipfile

    ez, cz = tmp_path / "e.zip", tmp_path / "c.zip"
    with zipfile.ZipFile(ez, "w") as z:
        z.writestr("CGGA.txt", "Gene_Name\tCGGA_1\tCGGA_2\nG1\t1\t2\n")
    with zipfile.ZipFile(cz, "w") as z:
        z.writestr("clin.txt", "CGGA_ID\tPRS_type\tGender\tAge\nCGGA_1\tPrimary\tMale\t50\n"
                               "CGGA_9\tPrimary\tFemale\t40\n")
    dl.prepare_cgga(ez, cz, tmp_path / "c.tsv.gz", tmp_path / "cs.tsv")
    assert pd.read_csv(tmp_path / "cs.tsv", sep="\t")["sample_id"].tolist() == ["CGGA_1"]
