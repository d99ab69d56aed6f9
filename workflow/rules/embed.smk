# Embedding stage (issue 11): factorized gene and sample embeddings trained per experiment, size
# and fold on the shared split (validation and test samples embedded with the network frozen),
# one evaluation per experiment and size (classifier protocol against PCA, NMF, t-SNE, UMAP and
# the raw data; gene neighbours vs KEGG and co-expression; imputation MAE), and a report per
# experiment. Paths, input functions and targets: workflow/rules/paths/embed.smk.


rule train_embedding:
    input:
        unpack(embed_train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/model.pt",
        samples=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/embedding.h5ad",
        genes=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/gene_embedding.h5ad",
        entries=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/masked_entries.tsv.gz",
        curve=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/embed-{experiment}-{ehash}/fe{size}d-{mhash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/fold_{{fold}}.tsv"
    wildcard_constraints:
        size="[0-9]+",
    conda:
        "../../envs/embed.yaml"
    threads: EMBED["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=embed_gpu,
    params:
        experiment=lambda w: embed_spec(w.experiment),
        settings=lambda w: embed_settings(w.experiment),
        loop=EMBED["loop"],
        device=EMBED["device"],
        seed=config["seed"],
    script:
        "../../scripts/train_embedding.py"


rule evaluate_embedding:
    input:
        unpack(embed_evaluate_inputs),
    output:
        per_split=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}/classifiers_per_split.tsv.gz",
        classifiers=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}/classifiers.tsv",
        genes=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}/gene_neighbours.tsv",
        imputation=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}/imputation.tsv",
        coordinates=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}/coordinates.tsv.gz",
    log:
        "logs/{dataset}/embed-{experiment}-{ehash}/fe{size}d-{mhash}/evaluation-{vhash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{ehash}}/fe{{size}}d-{{mhash}}/evaluation-{{vhash}}.tsv"
    wildcard_constraints:
        size="[0-9]+",
    conda:
        "../../envs/embed.yaml"
    resources:
        mem_mb=4000,
        runtime="1h",
    params:
        experiment=lambda w: embed_spec(w.experiment),
        folds=embed_run_folds(),
        evaluation=EMBED["evaluation"],
        seed=config["seed"],
    script:
        "../../scripts/evaluate_embedding.py"


rule report_embedding:
    input:
        unpack(embed_report_inputs),
    output:
        table=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/classifier_table.tsv",
            "embed_classifiers",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="classifier table",
        ),
        gene_table=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/gene_neighbours.tsv",
            "embed_gene_neighbours",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="gene neighbours",
        ),
        imputation=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/imputation.tsv",
            "embed_imputation",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="imputation MAE",
        ),
        samples_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/sample_embeddings.png",
            "embed_samples",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="sample embeddings",
        ),
        markers_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/marker_genes.png",
            "embed_markers",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="marker genes",
        ),
        genes_fig=report_entry(
            f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/report-{{chash}}/gene_embedding.png",
            "embed_genes",
            "6. Embeddings",
            "{experiment}",
            experiment="{experiment}",
            file="gene embedding",
        ),
    log:
        "logs/{dataset}/embed-{experiment}-{ehash}/report-{chash}.log",
    conda:
        "../../envs/embed.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        experiment=lambda w: embed_spec(w.experiment),
        sizes=lambda w: EMBED_EXPERIMENTS[w.experiment]["sizes"],
        markers=lambda w: EMBED_EXPERIMENTS[w.experiment].get("markers", []),
        pathways=lambda w: EMBED_EXPERIMENTS[w.experiment].get("pathways", []),
    script:
        "../../scripts/report_embedding.py"


rule impute_missing:
    input:
        unpack(embed_impute_inputs),
    output:
        values=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/impute-{{mhash}}/imputed_missing.tsv.gz",
        card=f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{ehash}}/impute-{{mhash}}/imputation_card.json",
    log:
        "logs/{dataset}/embed-{experiment}-{ehash}/impute-{mhash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/embed-{{experiment}}-{{ehash}}/impute-{{mhash}}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: EMBED["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=embed_gpu,
    params:
        experiment=lambda w: embed_spec(w.experiment),
        dataset=lambda w: DATASETS[EMBED_EXPERIMENTS[w.experiment]["dataset"]],
        size=lambda w: max(EMBED_EXPERIMENTS[w.experiment]["sizes"]),
        settings=lambda w: embed_settings(w.experiment),
        loop=EMBED["loop"],
        device=EMBED["device"],
        seed=config["seed"],
    script:
        "../../scripts/impute_missing.py"
