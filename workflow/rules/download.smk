# Download stage: `source: embedded` checks and stages the shipped files; the other rules fetch
# from the public endpoints in config `download.urls` (timeouts, retries, cache, sha256, atomic).


rule stage_embedded_bulk:
    input:
        matrix=lambda w: dataset_config(w)["matrix"],
        samples=lambda w: dataset_config(w)["samples"],
        sums="resources/SHA256SUMS",
    output:
        expression="results/{dataset}/download-embedded-{dhash}/expression.tsv.gz",
        samples="results/{dataset}/download-embedded-{dhash}/samples.tsv",
    params:
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-embedded-{dhash}.log",
    resources:
        mem_mb=500,
        runtime="5m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/stage_embedded.py"


rule stage_embedded_single_cell:
    input:
        matrix=lambda w: dataset_config(w)["matrix"],
        sums="resources/SHA256SUMS",
    output:
        matrix="results/{dataset}/download-embedded-{dhash}/matrix.h5ad",
    params:
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-embedded-{dhash}.log",
    resources:
        mem_mb=500,
        runtime="5m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/stage_embedded.py"


rule download_xena:
    output:
        expression="results/{dataset}/download-xena-{dhash}/expression.tsv.gz",
        samples="results/{dataset}/download-xena-{dhash}/samples.tsv",
    params:
        urls=lambda w: source_urls(w.dataset),
        download=config["download"],
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-xena-{dhash}.log",
    resources:
        mem_mb=4000,
        runtime="60m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"


rule download_gdc:
    output:
        expression="results/{dataset}/download-gdc-{dhash}/expression.tsv.gz",
        samples="results/{dataset}/download-gdc-{dhash}/samples.tsv",
    params:
        urls=lambda w: source_urls(w.dataset),
        download=config["download"],
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-gdc-{dhash}.log",
    resources:
        mem_mb=16000,
        runtime="120m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"


rule download_gtex:
    output:
        expression="results/{dataset}/download-gtex-{dhash}/expression.tsv.gz",
        samples="results/{dataset}/download-gtex-{dhash}/samples.tsv",
    params:
        urls=lambda w: source_urls(w.dataset),
        download=config["download"],
        tissues=lambda w: dataset_config(w).get("tissues"),
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-gtex-{dhash}.log",
    resources:
        mem_mb=16000,
        runtime="120m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"


rule download_cgga:
    output:
        expression="results/{dataset}/download-cgga-{dhash}/expression.tsv.gz",
        samples="results/{dataset}/download-cgga-{dhash}/samples.tsv",
    params:
        urls=lambda w: source_urls(w.dataset),
        download=config["download"],
        stage_hash=lambda w: check_hash(download_hash(w.dataset), w.dhash, w.dataset),
    log:
        "logs/{dataset}/download-cgga-{dhash}.log",
    resources:
        mem_mb=4000,
        runtime="60m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"


rule stage_embedded_references:
    input:
        kegg=config["references"]["kegg"],
        l1000=config["references"]["l1000"],
        entrez_map=config["references"]["entrez_map"],
        sums="resources/SHA256SUMS",
    output:
        kegg="results/references/download-embedded-{rhash}/kegg_pathways.tsv",
        l1000="results/references/download-embedded-{rhash}/l1000_landmarks.tsv",
    params:
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    log:
        "logs/references/download-embedded-{rhash}.log",
    resources:
        mem_mb=500,
        runtime="5m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/stage_references.py"


rule download_kegg:
    input:
        entrez_map=config["references"]["entrez_map"],
    output:
        kegg="results/references/download-remote-{rhash}/kegg_pathways.tsv",
    params:
        urls=[
            config["download"]["urls"]["kegg_rest"] + "/list/pathway/hsa",
            config["download"]["urls"]["kegg_rest"] + "/link/hsa/pathway",
        ],
        download=config["download"],
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    log:
        "logs/references/download-kegg-{rhash}.log",
    resources:
        mem_mb=1000,
        runtime="15m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"


rule download_l1000:
    output:
        l1000="results/references/download-remote-{rhash}/l1000_landmarks.tsv",
    params:
        urls=[config["download"]["urls"]["l1000_gene_info"]],
        download=config["download"],
        stage_hash=lambda w: check_hash(references_hash(), w.rhash, "references"),
    log:
        "logs/references/download-l1000-{rhash}.log",
    resources:
        mem_mb=1000,
        runtime="15m",
    conda:
        "../../envs/download.yaml"
    script:
        "../../scripts/download_source.py"
