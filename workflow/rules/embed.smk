# Embedding stage: factorized gene and sample embeddings (Trofimov et al. 2020) trained per experiment, size
# and fold on the shared split (validation and test samples embedded with the network frozen),
# one evaluation per experiment and size (classifier protocol against PCA, NMF, t-SNE, UMAP and
# the raw data; gene neighbours vs KEGG and co-expression; imputation MAE), and a report per
# experiment. Input functions and targets: workflow/rules/paths/embed.smk.


rule train_embedding:
    input:
        unpack(embed_train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/model.pt",
        samples=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/embedding.h5ad",
        genes=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/gene_embedding.h5ad",
        entries=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/masked_entries.tsv.gz",
        curve=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/embed-{experiment}-{experiment_hash}/fe{size}d-{model_hash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/fold_{{fold}}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: EMBED.section["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=lambda w: EMBED.gpu("factorized"),
    params:
        job=lambda w: EMBED.train_params(w.experiment),
    script:
        "../../scripts/train_embedding.py"


rule evaluate_embedding:
    input:
        unpack(embed_evaluate_inputs),
    output:
        per_split=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}/classifiers_per_split.tsv.gz",
        classifiers=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}/classifiers.tsv",
        genes=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}/gene_neighbours.tsv",
        imputation=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}/imputation.tsv",
        coordinates=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}/coordinates.tsv.gz",
    log:
        "logs/{dataset}/embed-{experiment}-{experiment_hash}/fe{size}d-{model_hash}/evaluation-{evaluation_hash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/fe{{size}}d-{{model_hash}}/evaluation-{{evaluation_hash}}.tsv"
    conda:
        "../../envs/embed.yaml"
    resources:
        mem_mb=4000,
        runtime="1h",
    params:
        job=lambda w: EMBED.evaluation_params(w.experiment),
    script:
        "../../scripts/evaluate_embedding.py"


rule report_embedding:
    input:
        unpack(embed_report_inputs),
    output:
        table=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/classifier_table.tsv",
            "embed_classifiers",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="classifier table",
        ),
        gene_table=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/gene_neighbours.tsv",
            "embed_gene_neighbours",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="gene neighbours",
        ),
        imputation=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/imputation.tsv",
            "embed_imputation",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="imputation MAE",
        ),
        samples_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/sample_embeddings.png",
            "embed_samples",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="sample embeddings",
        ),
        markers_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/marker_genes.png",
            "embed_markers",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="marker genes",
        ),
        genes_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/report-{{report_hash}}/gene_embedding.png",
            "embed_genes",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="gene embedding",
        ),
    log:
        "logs/{dataset}/embed-{experiment}-{experiment_hash}/report-{report_hash}.log",
    conda:
        "../../envs/embed.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        job=lambda w: EMBED.report_params(w.experiment),
    script:
        "../../scripts/report_embedding.py"


rule impute_missing:
    input:
        unpack(embed_impute_inputs),
    output:
        values=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/impute-{{impute_hash}}/imputed_missing.tsv.gz",
        card=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/impute-{{impute_hash}}/imputation_card.json",
    log:
        "logs/{dataset}/embed-{experiment}-{experiment_hash}/impute-{impute_hash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}/impute-{{impute_hash}}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: EMBED.section["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=lambda w: EMBED.gpu("factorized"),
    params:
        job=lambda w: EMBED.impute_params(w.experiment),
    script:
        "../../scripts/impute_missing.py"
