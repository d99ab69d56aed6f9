# embed stage: input functions and targets (its rules: workflow/rules/embed.smk; directories,
# hashes and job params: gexflow.paths.EmbedPaths).
EMBED_EXPERIMENT = f"{RESULTS}/{{dataset}}/embed-{{experiment}}-{{experiment_hash}}"
EMBED_MODEL = f"{EMBED_EXPERIMENT}/fe{{size}}d-{{model_hash}}"
EMBED_EVALUATION = f"{EMBED_MODEL}/evaluation-{{evaluation_hash}}"
EMBED_IMPUTE = f"{EMBED_EXPERIMENT}/impute-{{impute_hash}}"
EMBEDDING_FILES = {
    "model": "model.pt",
    "samples": "embedding.h5ad",
    "genes": "gene_embedding.h5ad",
    "entries": "masked_entries.tsv.gz",
    **TRAINED,
}
EMBED_EVAL_FILES = {
    "per_split": "classifiers_per_split.tsv.gz",
    "classifiers": "classifiers.tsv",
    "genes": "gene_neighbours.tsv",
    "imputation": "imputation.tsv",
    "coordinates": "coordinates.tsv.gz",
}
# report_embedding: output name -> (file, report caption, report label)
EMBED_REPORT_OUTPUTS = {
    "table": ("classifier_table.tsv", "embed_classifiers", "classifier table"),
    "gene_table": ("gene_neighbours.tsv", "embed_gene_neighbours", "gene neighbours"),
    "imputation": ("imputation.tsv", "embed_imputation", "imputation MAE"),
    "samples_fig": ("sample_embeddings.png", "embed_samples", "sample embeddings"),
    "markers_fig": ("marker_genes.png", "embed_markers", "marker genes"),
    "genes_fig": ("gene_embedding.png", "embed_genes", "gene embedding"),
}
EMBED_MODEL_FILES = [
    "model.pt",
    "embedding.h5ad",
    "gene_embedding.h5ad",
    "model_card.json",
]


def embed_targets():
    """Everything the embedding experiments write, so the manifest records its sha256."""
    out = []
    for exp in EMBED.run:
        out += [EMBED.split_file(exp)]
        out += [
            f"{EMBED.report_dir(exp)}/{f}" for f, _, _ in EMBED_REPORT_OUTPUTS.values()
        ]
        if EMBED.experiment(exp).get("impute_missing"):
            out += [
                f"{EMBED.impute_dir(exp)}/{f}"
                for f in ("imputed_missing.tsv.gz", "imputation_card.json")
            ]
        for size in EMBED.sizes(exp):
            out += [
                f"{EMBED.evaluation_dir(exp, size)}/{f}"
                for f in EMBED_EVAL_FILES.values()
            ]
            out += [
                f"{EMBED.model_dir(exp, size)}/fold_{k}/{f}"
                for k in EMBED.run_folds()
                for f in EMBED_MODEL_FILES
            ]
    return out


def embed_size_request(wildcards):
    exp, size = EMBED.check_request(wildcards), int(wildcards.size)
    if size not in EMBED.sizes(exp):
        raise WorkflowError(f"size {size} is not run in embed experiment '{exp}'")
    check_dir(
        EMBED.model_dir(exp, size),
        f"fe{size}d-{wildcards.model_hash}",
        f"{exp}/fe{size}d",
    )
    return exp, size


def embed_train_inputs(wildcards):
    exp, _ = embed_size_request(wildcards)
    return {**EMBED.data_inputs(exp), "code": code("train_embedding", "factorized")}


def embed_evaluate_inputs(wildcards):
    exp, size = embed_size_request(wildcards)
    check_dir(
        EMBED.evaluation_dir(exp, size),
        f"evaluation-{wildcards.evaluation_hash}",
        f"{exp} evaluation",
    )
    fold_files = {
        k: [f"{EMBED.model_dir(exp, size)}/fold_{f}/{name}" for f in EMBED.run_folds()]
        for k, name in (
            ("samples", "embedding.h5ad"),
            ("genes_emb", "gene_embedding.h5ad"),
            ("entries", "masked_entries.tsv.gz"),
        )
    }
    return {
        **EMBED.data_inputs(exp),
        **fold_files,
        "kegg": f"{PATHS.references_dir()}/kegg_pathways.tsv",
        "code": code("evaluate_embedding"),
    }


def embed_report_inputs(wildcards):
    exp = EMBED.check_request(wildcards)
    check_dir(EMBED.report_dir(exp), f"report-{wildcards.report_hash}", f"{exp} report")
    evaluations = [EMBED.evaluation_dir(exp, s) for s in EMBED.sizes(exp)]
    return {
        **EMBED.data_inputs(exp),
        **{
            k: [f"{d}/{EMBED_EVAL_FILES[k]}" for d in evaluations]
            for k in ("classifiers", "imputation", "coordinates")
        },
        "gene_tables": [f"{d}/{EMBED_EVAL_FILES['genes']}" for d in evaluations],
        "genes_emb": [
            f"{EMBED.model_dir(exp, s)}/fold_0/gene_embedding.h5ad"
            for s in EMBED.sizes(exp)
        ],
        "kegg": f"{PATHS.references_dir()}/kegg_pathways.tsv",
        "code": code("report_embedding"),
    }


def embed_impute_inputs(wildcards):
    exp = EMBED.check_request(wildcards)
    check_dir(
        EMBED.impute_dir(exp), f"impute-{wildcards.impute_hash}", f"{exp} imputation"
    )
    inputs = EMBED.data_inputs(exp)
    del inputs[
        "split"
    ]  # every sample's observed entries are used: nothing is scored on held-out samples
    dataset = EMBED.experiment(exp)["dataset"]
    return {
        **inputs,
        "expression": f"{PATHS.download_dir(dataset)}/expression.tsv.gz",
        "code": code("impute_missing", "factorized"),
    }
