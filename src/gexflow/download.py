"""Downloads (pooch, with gexflow's retry policy and messages) plus the parsers that turn each
public source into gexflow's staged layout.

pooch 1.9 (`pooch.retrieve`, one call per attempt) does the HTTP transfer (requests), the sha256
check (`known_hash`: a mismatching download is deleted), the cache (a copy already in `cache_dir`
is re-hashed against `known_hash` and fetched again if it fails) and reports progress to the
object gexflow hands it. gexflow keeps the retry loop: pooch's own (`Pooch.fetch` with
`retry_if_failed`, core.stream_download) catches every `requests.RequestException` and
`ValueError` alike and sleeps min(attempt, 10) s, not configurable. Measured on a loopback
server with retry_if_failed=2: a 404, a sha256 mismatch and an unresolvable host each cost 3
attempts and 3 s. Here only what can recover is retried (HTTP 408/425/429/5xx, timeouts, refused
or reset connections, truncated bodies), `backoff_s` doubling; a 4xx, a checksum mismatch or an
unresolved host fails at once. Only http(s) URLs: pooch's FTP downloader checks no length and
draws its bar on stderr whatever it is given.

Staged layout (what the filter stage reads), whatever the source:
  bulk: `expression.tsv.gz` (genes x samples, first column the gene id) and `samples.tsv`.
  references: `kegg_pathways.tsv` (pathway_id, pathway_name, entrez_id, symbol) and
  `l1000_landmarks.tsv` (entrez_id, symbol, l1000_probe_id, gene_title).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import logging
import os
import re
import shutil
import socket
import time
import zipfile
from pathlib import Path

import pandas as pd

from gexflow.errors import DownloadError, InputError
from gexflow.io import _umask, atomic_path, write_tsv

log = logging.getLogger("gexflow.download")

# HTTP statuses worth retrying: the server or a proxy may recover; 4xx other than these will not.
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
# A progress line in the job's log at most this often (a log is a file: no live bar).
PROGRESS_INTERVAL_S = 10.0
# pooch reads in chunks of this size; its default (1 kB) ran at 67 MB/s on loopback, 64 KiB at 319 MB/s.
CHUNK_BYTES = 1 << 16
# pooch 1.9's checksum-mismatch ValueError (pooch.hashes.hash_matches); tests/test_download.py pins it.
_POOCH_HASH_MISMATCH = re.compile(r"does not match the known hash: expected \S+ but got (\w+)")


def fetch(url: str, dest, *, sha256: str | None = None, retries: int = 3, timeout: float = 60.0,
          backoff: float = 2.0, cache_dir=None, user_agent: str = "gexflow", field: str = "source") -> Path:
    """Download `url` to `dest` atomically; verify `sha256` when given.

    A body shorter than its Content-Length, a checksum mismatch or an exhausted retry budget
    raises DownloadError and leaves nothing at `dest`. With `cache_dir`, a verified copy is kept
    under the URL's hash and reused on the next call. A host name that does not resolve is not
    retried (no network, or a typo in the URL). `field` is the config key that chose this
    download (e.g. `datasets.kirc.source`, `references.source`), named in the error.
    """
    # Imported here: the stages that import this module for its parsers need no network library, and only the
    # download env installs pooch.
    import requests

    dest = Path(dest)
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"{url}: field '{field}': only http:// and https:// URLs are downloaded. Fix: give the "
                            "https:// address (NCBI serves its ftp:// paths under https://ftp.ncbi.nlm.nih.gov/), "
                            "or download the file by hand and give its local path")
    known_hash = f"sha256:{sha256.lower()}" if sha256 else None
    cached = Path(cache_dir) / hashlib.sha256(url.encode()).hexdigest()[:16] / url_basename(url) if cache_dir else None
    last_error, kind = None, "network"
    for attempt in range(1, retries + 2):
        try:
            _retrieve_once(url, dest, known_hash, timeout, user_agent, cached)
            return dest
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as e:
            last_error, kind = f"invalid URL: {e}", "url"
            break
        except requests.HTTPError as e:
            status = e.response.status_code
            last_error, kind = f"HTTP {status} {e.response.reason}", "http"
            if status not in RETRY_STATUS:
                break
        except requests.RequestException as e:
            causes = list(_causes(e))
            truncated = next((c for c in causes if isinstance(c, http.client.IncompleteRead)), None)
            unresolved = next((c for c in causes if isinstance(c, socket.gaierror)), None)
            if truncated is not None:
                last_error, kind = _truncation(truncated), "truncated"
            elif unresolved is not None:
                last_error, kind = f"host name not resolved: {unresolved}", "network"
                break  # DNS failure: no network or a wrong host; retrying does not help
            elif isinstance(e, requests.Timeout) or any(isinstance(c, TimeoutError) for c in causes):
                last_error, kind = f"no response within download.timeout_s = {timeout:g} s", "timeout"
            else:
                last_error, kind = f"network error: {causes[-1]}", "network"
        except ValueError as e:
            mismatch = _POOCH_HASH_MISMATCH.search(str(e))
            if known_hash is None or mismatch is None:
                raise
            # A wrong checksum is not transient: refuse at once. pooch deleted the download; a cached
            # copy, if any, failed the same checksum (else pooch would have used it): drop it too.
            if cached is not None:
                cached.unlink(missing_ok=True)
            raise DownloadError(f"{url}: field 'download.checksums': sha256 {mismatch.group(1)} does not match the "
                                f"expected {sha256.lower()}; the file was discarded. Fix: if the source was updated "
                                "on purpose, update its checksum in the config") from None
        if attempt <= retries:
            wait = backoff * 2 ** (attempt - 1)
            log.warning("download of %s failed (%s); retry %d/%d in %.1f s", url, last_error, attempt, retries, wait)
            time.sleep(wait)
    no_network = f"if this machine has no network, set `{field}: embedded` to use the shipped data in resources/"
    fix = {"network": f"{no_network}; else check the URL under download.urls",
           "timeout": f"raise download.timeout_s if the server is slow; {no_network}",
           "truncated": "the server sent an incomplete file: try again later, or download it by hand and use it "
                        "as a local (`source: embedded`) file",
           "http": "check the URL under download.urls (the server refused it)",
           "url": "correct the URL under download.urls"}[kind]
    raise DownloadError(f"{url}: field '{field}': could not download after {attempt} attempt(s) ({last_error}). "
                        f"Fix: {fix}")


def _retrieve_once(url: str, dest: Path, known_hash: str | None, timeout: float, user_agent: str,
                   cached: Path | None) -> None:
    """One pooch download attempt (no pooch retries), into the cache or straight to `dest`."""
    import pooch

    downloader = pooch.HTTPDownloader(
        progressbar=_LogProgress(url_basename(url)), chunk_size=CHUNK_BYTES, timeout=timeout,
        # The file as stored, no transfer compression (as urllib fetched it), so checksums are the file's.
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"})
    start = time.monotonic()
    with _pooch_quiet():
        if cached is None:
            with atomic_path(dest) as tmp:
                tmp.unlink()  # pooch downloads only to an absent file, moving it there once the checksum passes
                pooch.retrieve(url, known_hash, fname=tmp.name, path=tmp.parent, downloader=downloader)
                log.info("downloaded %s (%s) in %.1f s", url, _size(tmp.stat().st_size), time.monotonic() - start)
            return
        action = pooch.retrieve(url, known_hash, fname=cached.name, path=cached.parent, downloader=downloader,
                                processor=lambda path, action, _pooch: action)
    if action == "fetch":
        log.info("cache hit for %s (%s)", url, cached)
    else:
        if action == "update":
            log.warning("cached copy of %s failed its checksum; downloaded it again", url)
        log.info("downloaded %s (%s) in %.1f s into %s", url, _size(cached.stat().st_size),
                 time.monotonic() - start, cached)
        os.chmod(cached, 0o666 & ~_umask())  # pooch's temp file is 0600; a shared cache needs the umask's mode
    with atomic_path(dest) as tmp:
        shutil.copyfile(cached, tmp)


@contextlib.contextmanager
def _pooch_quiet():
    """pooch logs to stderr, not the job's log, and its advice names its own `known_hash` argument
    rather than download.checksums: hush it to warnings; gexflow logs its own lines."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class _LogProgress:
    """pooch's progress-bar protocol (`total`, `update`, `reset`, `close`) written as a log line at
    most every PROGRESS_INTERVAL_S: the job's log is a file, where a live bar is carriage returns.
    pooch counts each chunk as a full CHUNK_BYTES, so a count is at most one chunk high."""

    def __init__(self, name: str):
        self.name, self.total, self.n, self.finished = name, 0, 0, False
        self.start = self.last_line = time.monotonic()

    def update(self, n: int) -> None:
        if self.finished:
            return
        self.n += n
        now = time.monotonic()
        if now - self.last_line >= PROGRESS_INTERVAL_S:
            self.last_line = now
            self._log(now)

    def reset(self, total=None) -> None:
        # pooch ends a download with reset(); update(total); close(): fetch logs the real size itself.
        self.finished = True

    def close(self) -> None:
        pass

    def _log(self, now: float) -> None:
        rate = self.n / max(now - self.start, 1e-6)
        if self.total:
            n = min(self.n, self.total)
            log.info("%s: %3.0f%% (%s of %s) at %s/s, about %.0f s left", self.name, 100 * n / self.total,
                     _size(n), _size(self.total), _size(rate), (self.total - n) / rate)
        else:  # no Content-Length
            log.info("%s: about %s so far at %s/s", self.name, _size(self.n), _size(rate))


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"


def _causes(e: BaseException):
    """`e` and what it wraps: requests and urllib3 chain causes through args, `reason` and `__cause__`."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        wrapped = [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(e, "reason", None)
        e = e.__cause__ or (reason if isinstance(reason, BaseException) else None) or next(iter(wrapped), None) \
            or e.__context__


def _truncation(e: http.client.IncompleteRead) -> str:
    # urllib3's IncompleteRead holds counts (read, still expected); http.client's the bytes read.
    got = e.partial if isinstance(e.partial, int) else len(e.partial)
    if isinstance(e.partial, int) and e.expected is not None:
        return f"truncated body: got {got} of {got + e.expected} bytes"
    return f"truncated body: got {got} bytes, fewer than announced"


def url_basename(url: str) -> str:
    name = url.rstrip("/").split("/")[-1].split("?")[0] or "download"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120]


def _open_text(path):
    """Open a downloaded file as text, whether gzip, zip (first member) or plain."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    if magic == b"PK\x03\x04":
        zf = zipfile.ZipFile(path)
        member = next(n for n in zf.namelist() if not n.endswith("/"))
        return io.TextIOWrapper(zf.open(member), encoding="utf-8")
    return open(path, encoding="utf-8")


# --- TCGA barcodes -------------------------------------------------------------------------

def samples_from_barcodes(barcodes) -> pd.DataFrame:
    """Sample sheet from TCGA barcodes: characters 14-15 give the sample type, 1-12 the patient."""
    bc = pd.Series(list(barcodes), dtype=str)
    code = bc.str[13:15]
    condition = code.map(lambda c: "tumor" if c.isdigit() and int(c) < 10
                         else ("normal" if c.isdigit() and 10 <= int(c) < 20 else "other"))
    return pd.DataFrame({"sample_barcode": bc, "patient_barcode": bc.str[:12], "sample_type_code": code,
                         "condition": condition})


# --- parsers: raw download -> staged layout ------------------------------------------------

def prepare_xena(expression_file, clinical_file, out_expression, out_samples) -> None:
    """UCSC Xena TCGA hub: `HiSeqV2` (genes x samples, log2(RSEM norm + 1)) + `<COHORT>_clinicalMatrix`."""
    with _open_text(expression_file) as fh:
        expr = pd.read_csv(fh, sep="\t")
    expr = expr.rename(columns={expr.columns[0]: "gene_symbol"})
    samples = samples_from_barcodes(expr.columns[1:])
    with _open_text(clinical_file) as fh:
        clin = pd.read_csv(fh, sep="\t", dtype=str)
    keep = {"sampleID": "sample_id_xena", "gender": "gender",
            "age_at_initial_pathologic_diagnosis": "age_at_diagnosis_years",
            "pathologic_stage": "pathologic_stage"}
    clin = clin[[c for c in keep if c in clin.columns]].rename(columns=keep)
    if "sample_id_xena" not in clin.columns:
        raise InputError(clinical_file, "sampleID", "column missing in the Xena clinical matrix",
                         "check the `clinical_url` template points at a `<COHORT>_clinicalMatrix` file")
    # Xena sample ids are the first 15 barcode characters (e.g. TCGA-A3-3358-01).
    samples["sample_id_xena"] = samples["sample_barcode"].str[:15]
    samples = samples.merge(clin.drop_duplicates("sample_id_xena"), on="sample_id_xena", how="left")
    write_tsv(expr, out_expression)
    write_tsv(samples.drop(columns="sample_id_xena"), out_samples)


def prepare_gdc_matrix(matrix_file, out_expression, out_samples) -> None:
    """A GDC genes x samples matrix (e.g. the Pan-Can Atlas EBPlusPlus file; ids `SYMBOL|ENTREZ`)."""
    with _open_text(matrix_file) as fh:
        expr = pd.read_csv(fh, sep="\t")
    first = expr.columns[0]
    ids = expr[first].astype(str)
    expr.insert(1, "gene_symbol", ids.str.split("|").str[0])
    expr = expr.rename(columns={first: "gene_id"})
    write_tsv(expr, out_expression)
    write_tsv(samples_from_barcodes(expr.columns[2:]), out_samples)


def prepare_gtex(gct_file, attributes_file, out_expression, out_samples, tissues=None) -> None:
    """GTEx GCT (2 header lines; Name, Description, samples) + sample attributes (SAMPID, SMTS)."""
    with _open_text(gct_file) as fh:
        fh.readline(), fh.readline()
        expr = pd.read_csv(fh, sep="\t")
    expr = expr.rename(columns={"Name": "gene_id", "Description": "gene_symbol"})
    attrs = pd.read_csv(attributes_file, sep="\t", dtype=str)[["SAMPID", "SMTS"]]
    attrs = attrs[attrs["SAMPID"].isin(expr.columns)].rename(columns={"SAMPID": "sample_id", "SMTS": "tissue"})
    if tissues:
        attrs = attrs[attrs["tissue"].isin(tissues)]
        expr = expr[["gene_id", "gene_symbol", *attrs["sample_id"]]]
    write_tsv(expr, out_expression)
    write_tsv(attrs, out_samples)


def _snake(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def prepare_geo(soft_path, out_expression, out_samples, platform=None, platform_field="platform") -> None:
    """A GEO SOFT file, read with GEOparse: a DataSet (GDS: its value table and `^SUBSET` blocks,
    one sheet column per subset type such as disease_state and individual, empty where a sample is
    in no subset of that type) or a Series family (GSE: each sample's VALUE column and its
    characteristics as sheet columns, for one platform: the dataset's `platform`, or the file's
    only one; its platform table gives geo_symbol / geo_entrez). Probe ids stay as they are (map them with
    `gene_id_type: probe` and the platform annotation)."""
    import GEOparse

    try:
        geo = GEOparse.get_GEO(filepath=str(soft_path), silent=True)
    except Exception as e:  # GEOparse raises many types for a file that is not SOFT
        raise InputError(soft_path, "(whole file)", f"cannot be read as a GEO SOFT file ({type(e).__name__}: {e})",
                         "point the dataset's `soft` at a GDS or GSE family .soft(.gz) file from GEO") from None
    kind = type(geo).__name__
    if kind == "GDS":
        table = geo.table.rename(columns={"ID_REF": "probe_id", "IDENTIFIER": "geo_symbol"})
        samples = [c for c in table.columns if c not in ("probe_id", "geo_symbol")]
        sheet = pd.DataFrame({"sample_id": samples})
        for sub in geo.subsets.values():
            col = _snake(sub.metadata["type"][0])
            if col not in sheet.columns:
                sheet[col] = ""
            members = ",".join(sub.metadata["sample_id"]).split(",")
            sheet.loc[sheet["sample_id"].isin(members), col] = sub.metadata["description"][0]
        sheet["platform"] = ",".join(geo.metadata.get("platform", []))
        sheet["value_type"] = ",".join(geo.metadata.get("value_type", []))
    elif kind == "GSE":
        from gexflow import geo as geo_lib

        chosen = geo_lib.check_platform(geo_lib.scan_soft(soft_path), platform, soft_path, platform_field)
        table, sheet = geo_lib.read_gse_family(geo, soft_path, chosen)
    else:
        raise InputError(soft_path, "(whole file)", f"is a GEO {kind} record, not a DataSet or Series",
                         "use the GDS or the GSE family SOFT file")
    log.info("%s: GEO %s with %d probes x %d samples; sheet columns: %s", soft_path, kind, len(table),
             len(sheet), ", ".join(sheet.columns))
    write_tsv(table, out_expression)
    write_tsv(sheet, out_samples)


def prepare_cgga(expression_zip, clinical_zip, out_expression, out_samples) -> None:
    """CGGA mRNAseq: RSEM genes (Gene_Name x CGGA_ID) + clinical table (CGGA_ID, PRS_type, Gender, Age...)."""
    with _open_text(expression_zip) as fh:
        expr = pd.read_csv(fh, sep="\t")
    expr = expr.rename(columns={expr.columns[0]: "gene_symbol"})
    with _open_text(clinical_zip) as fh:
        clin = pd.read_csv(fh, sep="\t", dtype=str)
    if "CGGA_ID" not in clin.columns:
        raise InputError(clinical_zip, "CGGA_ID", "column missing in the CGGA clinical table",
                         "check the `clinical_url` points at the mRNAseq clinical file")
    clin = clin[clin["CGGA_ID"].isin(expr.columns)].rename(columns={"CGGA_ID": "sample_id"})
    write_tsv(expr, out_expression)
    write_tsv(clin, out_samples)


def prepare_kegg(list_file, link_file, out_table, entrez_map=None) -> None:
    """KEGG REST `/list/pathway/hsa` + `/link/hsa/pathway` (or `/link/hsa/<id>`) -> long table."""
    with _open_text(list_file) as fh:
        names = pd.read_csv(fh, sep="\t", header=None, names=["pathway_id", "pathway_name"], dtype=str)
    names["pathway_id"] = names["pathway_id"].str.replace("path:", "", regex=False)
    names["pathway_name"] = names["pathway_name"].str.replace(r" - Homo sapiens \(human\)$", "", regex=True)
    with _open_text(link_file) as fh:
        links = pd.read_csv(fh, sep="\t", header=None, names=["pathway_id", "gene"], dtype=str)
    links["pathway_id"] = links["pathway_id"].str.replace("path:", "", regex=False)
    links["entrez_id"] = links["gene"].str.replace("hsa:", "", regex=False)
    table = links.merge(names, on="pathway_id", how="left")[["pathway_id", "pathway_name", "entrez_id"]]
    if entrez_map is not None:
        m = pd.read_csv(entrez_map, sep="\t", dtype=str, usecols=["entrez_id", "symbol"])
        table = table.merge(m, on="entrez_id", how="left")
    write_tsv(table, out_table)


def prepare_l1000(gene_info_file, out_table) -> None:
    """GEO GSE92742 `Broad_LINCS_gene_info`: keep rows with `pr_is_lm == 1` (the 978 landmarks)."""
    with _open_text(gene_info_file) as fh:
        info = pd.read_csv(fh, sep="\t", dtype=str)
    need = ["pr_gene_id", "pr_gene_symbol", "pr_is_lm"]
    for col in need:
        if col not in info.columns:
            raise InputError(gene_info_file, col, "column missing in the LINCS gene info file",
                             "check `references.l1000_url` points at GSE92742_Broad_LINCS_gene_info.txt.gz")
    lm = info[info["pr_is_lm"].str.strip() == "1"]
    out = pd.DataFrame({"entrez_id": lm["pr_gene_id"], "symbol": lm["pr_gene_symbol"],
                        "gene_title": lm.get("pr_gene_title", "")})
    write_tsv(out, out_table)
