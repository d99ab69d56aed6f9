# Embedding stage: factorized gene and sample embeddings (Trofimov et al. 2020) trained per
# experiment, size and fold on the shared split (validation and test samples embedded with the
# network frozen), one evaluation per experiment and size (classifier protocol against PCA, NMF,
# t-SNE, UMAP and the raw data; gene neighbours vs KEGG and co-expression; imputation MAE), a
# report per experiment, and the dataset's real missing values imputed.
# Input functions, directory patterns and targets: workflow/rules/paths/embed.smk.


rule train_embedding:
    input:
        unpack(embed_train_inputs),
    output:
        **files(f"{EMBED_MODEL}/fold_{{fold}}", **EMBEDDING_FILES),
    log:
        log_of(f"{EMBED_MODEL}/fold_{{fold}}"),
    benchmark:
        benchmark_of(f"{EMBED_MODEL}/fold_{{fold}}")
    conda:
        "../../envs/embed.yaml"
    threads: EMBED.section["threads"]
    resources:
        **training_resources(EMBED, "factorized"),
    params:
        job=lambda w: EMBED.train_params(w.experiment),
    script:
        "../../scripts/train_embedding.py"


rule evaluate_embedding:
    input:
        unpack(embed_evaluate_inputs),
    output:
        **files(EMBED_EVALUATION, **EMBED_EVAL_FILES),
    log:
        log_of(EMBED_EVALUATION),
    benchmark:
        benchmark_of(EMBED_EVALUATION)
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
        **report_files(
            f"{EMBED_EXPERIMENT}/report-{{report_hash}}",
            "6. Embeddings",
            EMBED_REPORT_OUTPUTS,
        ),
    log:
        log_of(f"{EMBED_EXPERIMENT}/report-{{report_hash}}"),
    conda:
        "../../envs/embed.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: EMBED.report_params(w.experiment),
    script:
        "../../scripts/report_embedding.py"


rule impute_missing:
    input:
        unpack(embed_impute_inputs),
    output:
        **files(
            EMBED_IMPUTE, values="imputed_missing.tsv.gz", card="imputation_card.json"
        ),
    log:
        log_of(EMBED_IMPUTE),
    benchmark:
        benchmark_of(EMBED_IMPUTE)
    conda:
        "../../envs/embed.yaml"
    threads: EMBED.section["threads"]
    resources:
        **training_resources(EMBED, "factorized"),
    params:
        job=lambda w: EMBED.impute_params(w.experiment),
    script:
        "../../scripts/impute_missing.py"
