# Download stage: `source: embedded` checks and stages the shipped files; download_dataset (one
# rule for every remote {source}) and the reference rules fetch from the public endpoints in
# config `download.urls` (timeouts, retries, cache, sha256, atomic).
# Input functions and targets: workflow/rules/paths/download.smk.


rule stage_embedded_bulk:
    input:
        unpack(embedded_inputs),
        code=code("stage_embedded_bulk"),
    output:
        expression=f"{RESULTS}/{{dataset}}/download-embedded-{{download_hash}}/expression.tsv.gz",
        samples=f"{RESULTS}/{{dataset}}/download-embedded-{{download_hash}}/samples.tsv",
    log:
        f"{LOGS}/{{dataset}}/download-embedded-{{download_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        job=dataset_job,
    script:
        "../../scripts/stage_embedded_bulk.py"


rule stage_embedded_single_cell:
    input:
        unpack(embedded_inputs),
        code=code("stage_embedded_single_cell"),
    output:
        matrix=f"{RESULTS}/{{dataset}}/download-embedded-{{download_hash}}/matrix.h5ad",
    log:
        f"{LOGS}/{{dataset}}/download-embedded-{{download_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        job=dataset_job,
    script:
        "../../scripts/stage_embedded_single_cell.py"


DOWNLOAD_RESOURCES = {  # GDC and GTEx matrices are large
    "xena": {"mem_mb": 4000, "runtime": "60m"},
    "gdc": {"mem_mb": 16000, "runtime": "120m"},
    "gtex": {"mem_mb": 16000, "runtime": "120m"},
    "cgga": {"mem_mb": 4000, "runtime": "60m"},
    "geo": {"mem_mb": 4000, "runtime": "30m"},
}


rule download_dataset:
    input:
        unpack(download_inputs),
        code=code("download_dataset"),
    output:
        expression=f"{RESULTS}/{{dataset}}/download-{{source}}-{{download_hash}}/expression.tsv.gz",
        samples=f"{RESULTS}/{{dataset}}/download-{{source}}-{{download_hash}}/samples.tsv",
    log:
        f"{LOGS}/{{dataset}}/download-{{source}}-{{download_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=lambda w: DOWNLOAD_RESOURCES[w.source]["mem_mb"],
        runtime=lambda w: DOWNLOAD_RESOURCES[w.source]["runtime"],
    params:
        job=dataset_job,
    script:
        "../../scripts/download_dataset.py"


rule stage_embedded_references:
    input:
        kegg=config["references"]["kegg"],
        l1000=config["references"]["l1000"],
        entrez_map=config["references"]["entrez_map"],
        sums=checksum_file(config["references"]["kegg"]),
        code=code("stage_embedded_references"),
    output:
        kegg=f"{RESULTS}/references/download-embedded-{{references_hash}}/kegg_pathways.tsv",
        l1000=f"{RESULTS}/references/download-embedded-{{references_hash}}/l1000_landmarks.tsv",
    log:
        f"{LOGS}/references/download-embedded-{{references_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        job=references_job,
    script:
        "../../scripts/stage_embedded_references.py"


rule download_kegg:
    input:
        entrez_map=config["references"]["entrez_map"],
        code=code("download_kegg"),
    output:
        kegg=f"{RESULTS}/references/download-remote-{{references_hash}}/kegg_pathways.tsv",
    log:
        f"{LOGS}/references/download-kegg-{{references_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=1000,
        runtime="15m",
    params:
        job=references_job,
    script:
        "../../scripts/download_kegg.py"


rule download_l1000:
    input:
        code=code("download_l1000"),
    output:
        l1000=f"{RESULTS}/references/download-remote-{{references_hash}}/l1000_landmarks.tsv",
    log:
        f"{LOGS}/references/download-l1000-{{references_hash}}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=1000,
        runtime="15m",
    params:
        job=references_job,
    script:
        "../../scripts/download_l1000.py"
