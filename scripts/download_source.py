"""Rules download_dataset (one {source}: xena, gdc, gtex, cgga), download_kegg, download_l1000:
fetch the configured URLs (cached, retried, checksummed), then parse them into gexflow's staged
layout."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.download import download_dataset, download_references  # noqa: E402


def main(smk):
    outputs = dict(smk.output.items())
    if smk.rule == "download_dataset":
        download_dataset(smk.wildcards.source, smk.params.urls, smk.params.download, outputs,
                         {"tissues": smk.params.tissues}, name=smk.wildcards.dataset)
    else:
        download_references(smk.rule.removeprefix("download_"), smk.params.urls, smk.params.download, outputs,
                            smk.input.get("entrez_map"))


run_step(snakemake, main)  # noqa: F821
