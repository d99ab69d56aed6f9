# Download stage: `source: embedded` checks and stages the shipped files; download_dataset (one
# rule for every remote {source}) and the reference rules fetch from the public endpoints in
# config `download.urls` (timeouts, retries, cache, sha256, atomic).
# Paths, input functions and targets: workflow/rules/paths/download.smk.


rule stage_embedded_bulk:
    input:
        matrix=lambda w: dataset_config(w)["matrix"],
        samples=lambda w: dataset_config(w)["samples"],
        sums=lambda w: checksum_file(dataset_config(w)["matrix"]),
    output:
        expression=f"{RESULTS}/{{dataset}}/download-embedded-{{dhash}}/expression.tsv.gz",
        samples=f"{RESULTS}/{{dataset}}/download-embedded-{{dhash}}/samples.tsv",
    log:
        "logs/{dataset}/download-embedded-{dhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    script:
        "../../scripts/stage_embedded.py"


rule stage_embedded_single_cell:
    input:
        matrix=lambda w: dataset_config(w)["matrix"],
        samples=lambda w: dataset_config(w).get("samples", []),
        sums=lambda w: checksum_file(dataset_config(w)["matrix"]),
    output:
        matrix=f"{RESULTS}/{{dataset}}/download-embedded-{{dhash}}/matrix.h5ad",
    log:
        "logs/{dataset}/download-embedded-{dhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
        dataset=dataset_config,
    script:
        "../../scripts/stage_embedded.py"


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
    output:
        expression=f"{RESULTS}/{{dataset}}/download-{{source}}-{{dhash}}/expression.tsv.gz",
        samples=f"{RESULTS}/{{dataset}}/download-{{source}}-{{dhash}}/samples.tsv",
    log:
        "logs/{dataset}/download-{source}-{dhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=lambda w: DOWNLOAD_RESOURCES[w.source]["mem_mb"],
        runtime=lambda w: DOWNLOAD_RESOURCES[w.source]["runtime"],
    params:
        urls=lambda w: source_urls(w.dataset),
        download=config["download"],
        tissues=lambda w: dataset_config(w).get("tissues"),
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    script:
        "../../scripts/download_source.py"


rule stage_embedded_references:
    input:
        kegg=config["references"]["kegg"],
        l1000=config["references"]["l1000"],
        entrez_map=config["references"]["entrez_map"],
        sums=checksum_file(config["references"]["kegg"]),
    output:
        kegg=f"{RESULTS}/references/download-embedded-{{rhash}}/kegg_pathways.tsv",
        l1000=f"{RESULTS}/references/download-embedded-{{rhash}}/l1000_landmarks.tsv",
    log:
        "logs/references/download-embedded-{rhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime="5m",
    params:
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    script:
        "../../scripts/stage_references.py"


rule download_kegg:
    input:
        entrez_map=config["references"]["entrez_map"],
    output:
        kegg=f"{RESULTS}/references/download-remote-{{rhash}}/kegg_pathways.tsv",
    log:
        "logs/references/download-kegg-{rhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=1000,
        runtime="15m",
    params:
        urls=kegg_urls(),
        download=config["download"],
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    script:
        "../../scripts/download_source.py"


rule download_l1000:
    output:
        l1000=f"{RESULTS}/references/download-remote-{{rhash}}/l1000_landmarks.tsv",
    log:
        "logs/references/download-l1000-{rhash}.log",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=1000,
        runtime="15m",
    params:
        urls=[config["download"]["urls"]["l1000_gene_info"]],
        download=config["download"],
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    script:
        "../../scripts/download_source.py"
