"""HTTP path of the download stage against a local http.server on 127.0.0.1 serving fixture files."""

import gzip
import hashlib
import http.server
import logging
import os
import stat
import threading

import pandas as pd
import pytest

from gexflow import download as dl

PAYLOAD = b"gene_symbol\tS1\nA1BG\t1.5\n" * 200  # synthetic fixture bytes, not biological data


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}
    headers_seen: dict = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        self.headers_seen[self.path] = dict(self.headers)
        behaviour = self.routes.get(self.path)
        if behaviour is None:
            self.send_error(404)
            return
        kind, body = behaviour
        if (kind == "flaky" and self.hits[self.path] == 1) or kind == "down":
            self.send_error(500, "synthetic server error")
            return
        if kind == "stall" and self.hits[self.path] == 1:
            threading.Event().wait(1.0)  # longer than the client's timeout; the client has gone by then
            self.close_connection = True
            return
        if kind == "stall_body":  # headers and half the body, then silence past the client's timeout
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            threading.Event().wait(1.0)
            self.close_connection = True
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
        if kind != "no_length":  # HTTP/1.0: without Content-Length the body ends when the connection closes
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.routes = {"/ok.tsv": ("ok", PAYLOAD), "/flaky.tsv": ("flaky", PAYLOAD),
                       "/truncated.tsv": ("truncated", PAYLOAD), "/down.tsv": ("down", PAYLOAD),
                       "/stall.tsv": ("stall", PAYLOAD), "/no_length.tsv": ("no_length", PAYLOAD),
                       "/stall_body.tsv": ("stall_body", PAYLOAD)}
    _Handler.hits, _Handler.headers_seen = {}, {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.httpd = httpd  # so a test can take the network away
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def sleeps(monkeypatch):
    """Record the back-off waits instead of sleeping (pooch's own loop would sleep here too)."""
    waits = []
    monkeypatch.setattr(dl.time, "sleep", waits.append)
    return waits


def test_success_writes_file_and_verifies_checksum(server, tmp_path):
    base, handler = server
    dest = tmp_path / "out" / "ok.tsv"
    dl.fetch(f"{base}/ok.tsv", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["ok.tsv"]  # no temp file left
    sent = handler.headers_seen["/ok.tsv"]
    assert sent["User-Agent"] == "gexflow" and sent["Accept-Encoding"] == "identity"


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
    with pytest.raises(dl.DownloadError, match="does not match") as e:
        dl.fetch(f"{base}/ok.tsv", dest, sha256="0" * 64, retries=3, backoff=0.01)
    assert list(tmp_path.iterdir()) == []
    assert handler.hits["/ok.tsv"] == 1  # a checksum mismatch is not retried
    # The hash actually received is read from pooch's message, so the fix can be copied.
    assert f"sha256 {hashlib.sha256(PAYLOAD).hexdigest()} does not match the expected {'0' * 64}" in str(e.value)
    assert "field 'download.checksums'" in str(e.value) and "discarded" in str(e.value)


def test_wrong_checksum_leaves_nothing_in_the_cache_either(server, tmp_path, sleeps):
    base, handler = server
    cache = tmp_path / "cache"
    with pytest.raises(dl.DownloadError, match="does not match"):
        dl.fetch(f"{base}/ok.tsv", tmp_path / "out" / "ok.tsv", sha256="0" * 64, retries=3, cache_dir=cache)
    assert _files(tmp_path) == []
    assert handler.hits["/ok.tsv"] == 1 and sleeps == []


def test_retries_exhausted_after_doubling_back_off(server, tmp_path, sleeps):
    base, handler = server
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch(f"{base}/down.tsv", tmp_path / "d.tsv", retries=2, backoff=0.5, field="datasets.kirc.source")
    msg = str(e.value)
    assert handler.hits["/down.tsv"] == 3 and sleeps == [0.5, 1.0]  # download.backoff_s, doubled; no pooch waits
    assert msg.startswith(f"{base}/down.tsv: field 'datasets.kirc.source': could not download after 3 attempt(s)")
    assert "HTTP 500" in msg and "Fix:" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_404_is_not_retried(server, tmp_path, sleeps):
    base, handler = server
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch(f"{base}/missing.tsv", tmp_path / "m.tsv", retries=3, backoff=1)
    assert handler.hits["/missing.tsv"] == 1 and sleeps == []
    assert "after 1 attempt(s) (HTTP 404 Not Found)" in str(e.value)
    assert "check the URL under download.urls" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_pooch_own_retry_loop_retries_a_404(server, tmp_path, sleeps):
    # Why fetch keeps its own retry loop (see the module docstring): pooch retries what cannot recover.
    import pooch
    import requests

    base, handler = server
    store = pooch.create(path=tmp_path, base_url=f"{base}/", registry={"missing.tsv": None}, retry_if_failed=2)
    with pytest.raises(requests.HTTPError):
        store.fetch("missing.tsv")
    assert handler.hits["/missing.tsv"] == 3 and sleeps == [1, 2]


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
    assert f"truncated body: got {len(PAYLOAD)} of {2 * len(PAYLOAD)} bytes" in str(e.value)


def test_timeout_is_retried(server, tmp_path):
    base, handler = server
    dl.fetch(f"{base}/stall.tsv", tmp_path / "s.tsv", retries=1, backoff=0.01, timeout=0.3)
    assert (tmp_path / "s.tsv").read_bytes() == PAYLOAD
    assert handler.hits["/stall.tsv"] == 2


@pytest.mark.parametrize("route", ["/stall.tsv", "/stall_body.tsv"])  # before the headers / mid-body
def test_timeout_names_the_timeout_setting(server, tmp_path, route):
    base, handler = server
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch(f"{base}{route}", tmp_path / "s.tsv", retries=0, timeout=0.3)
    assert "no response within download.timeout_s = 0.3 s" in str(e.value)
    assert "raise download.timeout_s" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_only_http_urls_are_downloaded(tmp_path):
    with pytest.raises(dl.DownloadError, match="only http:// and https://") as e:
        dl.fetch("ftp://127.0.0.1/x.soft.gz", tmp_path / "x", field="datasets.gse.soft")
    assert "field 'datasets.gse.soft'" in str(e.value) and "Fix:" in str(e.value)


def test_url_without_host_is_not_retried(tmp_path, sleeps):
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch("http:///x.tsv", tmp_path / "x.tsv", retries=3)
    assert "after 1 attempt(s) (invalid URL" in str(e.value) and sleeps == []


def test_cache_is_reused_without_network(server, tmp_path):
    base, handler = server
    cache = tmp_path / "cache"
    dl.fetch(f"{base}/ok.tsv", tmp_path / "a.tsv", retries=0, cache_dir=cache)
    dl.fetch(f"{base}/ok.tsv", tmp_path / "b.tsv", retries=0, cache_dir=cache)
    assert handler.hits["/ok.tsv"] == 1
    assert (tmp_path / "b.tsv").read_bytes() == PAYLOAD


def test_cache_hit_is_verified_and_needs_no_server(server, tmp_path, caplog):
    base, handler = server
    cache = tmp_path / "cache"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dl.fetch(f"{base}/ok.tsv", tmp_path / "a.tsv", sha256=sha, retries=0, cache_dir=cache)
    handler.httpd.shutdown()
    handler.httpd.server_close()  # the port is closed: any request now fails
    with caplog.at_level(logging.INFO, logger="gexflow.download"):
        dl.fetch(f"{base}/ok.tsv", tmp_path / "b.tsv", sha256=sha.upper(), retries=0, cache_dir=cache)
    assert (tmp_path / "b.tsv").read_bytes() == PAYLOAD
    assert "cache hit" in caplog.text
    # Same layout as before pooch: <cache_dir>/<url hash>/<file name>, with the umask's mode.
    cached = cache / hashlib.sha256(f"{base}/ok.tsv".encode()).hexdigest()[:16] / "ok.tsv"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o666 & ~umask


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


def test_cached_copy_failing_a_changed_checksum_is_dropped(server, tmp_path):
    base, handler = server
    cache = tmp_path / "cache"
    dl.fetch(f"{base}/ok.tsv", tmp_path / "a.tsv", retries=0, cache_dir=cache)
    assert len(_files(cache)) == 1
    with pytest.raises(dl.DownloadError, match="does not match"):
        dl.fetch(f"{base}/ok.tsv", tmp_path / "b.tsv", sha256="0" * 64, retries=2, cache_dir=cache)
    assert handler.hits["/ok.tsv"] == 2  # the cached copy failed, one fresh download, no retries
    assert _files(cache) == [] and not (tmp_path / "b.tsv").exists()


def test_progress_goes_to_the_log_not_a_non_tty_stderr(server, tmp_path, caplog, capfd, monkeypatch):
    base, _ = server
    import pooch

    monkeypatch.setattr(dl, "PROGRESS_INTERVAL_S", 0.0)  # a progress line for every chunk
    pooch_records = []
    to_list = logging.Handler()
    to_list.emit = pooch_records.append
    pooch.get_logger().addHandler(to_list)  # pooch's own logger writes to stderr, outside the job's log
    try:
        with caplog.at_level(logging.INFO, logger="gexflow.download"):
            dl.fetch(f"{base}/ok.tsv", tmp_path / "ok.tsv", retries=0)
            dl.fetch(f"{base}/no_length.tsv", tmp_path / "n.tsv", retries=0)
    finally:
        pooch.get_logger().removeHandler(to_list)
    assert [r.getMessage() for r in pooch_records] == []
    assert (tmp_path / "n.tsv").read_bytes() == PAYLOAD
    assert "ok.tsv: 100% (4.8 kB of 4.8 kB) at " in caplog.text  # pooch's whole-chunk count clamped
    assert "no_length.tsv: about " in caplog.text  # no Content-Length: a byte count, no percentage
    assert f"downloaded {base}/ok.tsv (4.8 kB) in " in caplog.text
    assert f"downloaded {base}/no_length.tsv (4.8 kB) in " in caplog.text  # the real size, not the chunk count
    assert capfd.readouterr().err == ""  # no bar and no pooch chatter on stderr (not the job's log)


def test_progress_lines_are_spaced_by_the_interval(monkeypatch, caplog):
    clock = iter([0.0, 1.0, 11.0, 12.0, 25.0])
    monkeypatch.setattr(dl.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="gexflow.download"):
        bar = dl._LogProgress("big.gz")  # start at 0 s
        bar.total = 4_000_000
        bar.update(1_000_000)  # 1 s: too soon for a line
        bar.update(1_000_000)  # 11 s: a line
        bar.update(1_000_000)  # 12 s: too soon
        bar.update(1_000_000)  # 25 s: a line
        bar.reset()  # pooch's end of download: reset(); update(total); close() add nothing
        bar.update(4_000_000)
        bar.close()
    assert [r.getMessage() for r in caplog.records] == [
        "big.gz:  50% (2.0 MB of 4.0 MB) at 181.8 kB/s, about 11 s left",
        "big.gz: 100% (4.0 MB of 4.0 MB) at 160.0 kB/s, about 0 s left"]


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


def test_a_file_that_is_not_geo_soft_stops_the_rule_with_one_line(tmp_path):
    """Run as rule download_dataset runs its parser: exit 1, one line naming the file, no output."""
    from conftest import assert_one_clear_error, make_job, run_as_rule

    d = tmp_path / "in"
    d.mkdir()
    (d / "x.soft").write_text("this is not a SOFT file\n")
    out = tmp_path / "out"
    job = make_job("download_dataset", output={"expression": out / "expression.tsv.gz", "samples": out / "samples.tsv"},
                   log=tmp_path / "logs" / "download.log")
    run = run_as_rule(job, lambda j: dl.prepare_geo(d / "x.soft", j.output["expression"], j.output["samples"]))
    assert_one_clear_error(run, "x.soft", "(whole file)", words=["GEO SOFT"], out=out, root=tmp_path)


def test_download_dataset_stage_parses_a_local_geo_soft_file(tmp_path):
    """The stage entry point with a local SOFT path (no network): the shipped GDS507 file."""
    from gexflow.stages.download import download_dataset

    from conftest import REPO, RUNTIME, make_job

    soft = next((REPO / "resources/geo").glob("GDS507*.soft*"))
    out = tmp_path / "ds" / "download-geo-x"
    out.mkdir(parents=True)  # as Snakemake creates a job's output directories before it runs
    job = make_job("download_dataset", output={"expression": out / "expression.tsv.gz", "samples": out / "samples.tsv"},
                   params={"urls": [str(soft)]}, wildcards={"dataset": "my_cohort", "source": "geo"},
                   config=RUNTIME)
    download_dataset(job)
    samples = pd.read_csv(out / "samples.tsv", sep="\t", dtype=str)
    expr = pd.read_csv(out / "expression.tsv.gz", sep="\t")
    assert len(samples) == 17 and set(samples["sample_id"]) <= set(expr.columns)
    assert set(samples["disease_state"]) == {"RCC", "normal"} and len(expr) == 22645  # GPL97 probes
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["expression.tsv.gz", "samples.tsv", ".expression.tsv.gz.sha256", ".samples.tsv.sha256"])
