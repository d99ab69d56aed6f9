"""Rules download_xena / download_gdc / download_gtex / download_cgga / download_kegg /
download_l1000: fetch the configured URLs (cached, retried, checksummed), then parse them into
gexflow's staged layout."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow import download as dl  # noqa: E402
from gexflow.runner import run_step  # noqa: E402


def main(smk):
    cfg = smk.params.download
    out = smk.output
    with tempfile.TemporaryDirectory(dir=Path(out[0]).parent.parent) as tmp:
        files = []
        for i, url in enumerate(smk.params.urls):
            files.append(dl.fetch(url, Path(tmp) / f"{i}_{dl.url_basename(url)}",
                                  sha256=cfg.get("checksums", {}).get(url), retries=cfg["retries"],
                                  timeout=cfg["timeout_s"], backoff=cfg["backoff_s"],
                                  cache_dir=cfg["cache_dir"]))
        rule = smk.rule
        if rule == "download_xena":
            dl.prepare_xena(files[0], files[1], out.expression, out.samples)
        elif rule == "download_gdc":
            dl.prepare_gdc_matrix(files[0], out.expression, out.samples)
        elif rule == "download_gtex":
            dl.prepare_gtex(files[0], files[1], out.expression, out.samples, smk.params.tissues)
        elif rule == "download_cgga":
            dl.prepare_cgga(files[0], files[1], out.expression, out.samples)
        elif rule == "download_kegg":
            dl.prepare_kegg(files[0], files[1], out.kegg, smk.input.entrez_map)
        elif rule == "download_l1000":
            dl.prepare_l1000(files[0], out.l1000)
        else:
            raise ValueError(f"no parser for rule {rule}")


run_step(snakemake, main)  # noqa: F821
