# embed stage: paths, hashes, input functions and targets (its rules: workflow/rules/embed.smk).
EMBED = config["embed"]
EMBED_EXPERIMENTS = EMBED.get("experiments", {})
EMBED_STAGE_CODE = [
    "stages/embed.py",
    "experiment.py",
    "splits.py",
    "models/__init__.py",
    "models/registry.py",
    "models/training.py",
    "models/embedding.py",
]
EMBED_METRICS_CODE = [
    "stages/embed.py",
    "experiment.py",
    "splits.py",
    "selection.py",
    "metrics/__init__.py",
    "metrics/embedding.py",
]
EMBED_TRAIN_FILES = {
    "model": "model.pt",
    "samples": "embedding.h5ad",
    "genes": "gene_embedding.h5ad",
    "entries": "masked_entries.tsv.gz",
    "curve": "training_curve.tsv",
    "card": "model_card.json",
}
EMBED_EVAL_FILES = {
    "per_split": "classifiers_per_split.tsv.gz",
    "classifiers": "classifiers.tsv",
    "genes": "gene_neighbours.tsv",
    "imputation": "imputation.tsv",
    "coordinates": "coordinates.tsv.gz",
}
EMBED_REPORT_FILES = {
    "table": "classifier_table.tsv",
    "gene_table": "gene_neighbours.tsv",
    "imputation": "imputation.tsv",
    "samples_fig": "sample_embeddings.png",
    "markers_fig": "marker_genes.png",
    "genes_fig": "gene_embedding.png",
}


def embed_settings(exp):
    """The factorized embedding's settings in one experiment (global, then the experiment's)."""
    merged = dict(EMBED["settings"])
    merged.update(EMBED_EXPERIMENTS[exp].get("settings", {}))
    return merged


def embed_spec(exp):
    return {
        k: v
        for k, v in EMBED_EXPERIMENTS[exp].items()
        if k
        not in (
            "settings",
            "sizes",
            "note",
            "description",
            "split",
            "markers",
            "pathways",
            "impute_missing",
        )
    }


def embed_split(exp):
    e = EMBED_EXPERIMENTS[exp]
    return split_file(
        e["dataset"], split_spec(e["dataset"], e["label"], e.get("split"))
    )


def embed_genes_hash(exp):
    e = EMBED_EXPERIMENTS[exp]
    if e["genes"] == "all":
        return filter_hash(e["dataset"])
    return select_hash(e["dataset"], e["genes"])


def embed_hash(exp):
    return section_hash(embed_genes_hash(exp), embed_spec(exp), embed_split(exp))


def embed_dir(exp):
    return (
        f"{RESULTS}/{EMBED_EXPERIMENTS[exp]['dataset']}/embed-{exp}-{embed_hash(exp)}"
    )


def embed_model_hash(exp, size):
    return section_hash(embed_hash(exp), int(size), embed_settings(exp), EMBED["loop"])


def embed_model_dir(exp, size):
    return f"{embed_dir(exp)}/fe{size}d-{embed_model_hash(exp, size)}"


def embed_run_folds():
    return list(range(EMBED["run_folds"]))


def embed_eval_hash(exp, size):
    return section_hash(
        embed_model_hash(exp, size), EMBED["evaluation"], EMBED["run_folds"]
    )


def embed_eval_dir(exp, size):
    return f"{embed_model_dir(exp, size)}/evaluation-{embed_eval_hash(exp, size)}"


def embed_report_hash(exp):
    e = EMBED_EXPERIMENTS[exp]
    return section_hash(
        [embed_eval_hash(exp, s) for s in e["sizes"]],
        e.get("markers", []),
        e.get("pathways", []),
    )


def embed_report_dir(exp):
    return f"{embed_dir(exp)}/report-{embed_report_hash(exp)}"


def embed_impute_hash(exp):
    e = EMBED_EXPERIMENTS[exp]
    return section_hash(
        embed_hash(exp),
        max(e["sizes"]),
        embed_settings(exp),
        EMBED["loop"],
        download_hash(e["dataset"]),
    )


def embed_impute_dir(exp):
    return f"{embed_dir(exp)}/impute-{embed_impute_hash(exp)}"


def embed_targets():
    """Everything the embedding experiments write, so the manifest records its sha256."""
    out = []
    for exp in EMBED["run"]:
        out += [embed_split(exp)]
        out += [f"{embed_report_dir(exp)}/{f}" for f in EMBED_REPORT_FILES.values()]
        if EMBED_EXPERIMENTS[exp].get("impute_missing"):
            out += [
                f"{embed_impute_dir(exp)}/imputed_missing.tsv.gz",
                f"{embed_impute_dir(exp)}/imputation_card.json",
            ]
        for size in EMBED_EXPERIMENTS[exp]["sizes"]:
            out += [
                f"{embed_eval_dir(exp, size)}/{f}" for f in EMBED_EVAL_FILES.values()
            ]
            for k in embed_run_folds():
                out += [
                    f"{embed_model_dir(exp, size)}/fold_{k}/{f}"
                    for f in (
                        "model.pt",
                        "embedding.h5ad",
                        "gene_embedding.h5ad",
                        "model_card.json",
                    )
                ]
    return out


def embed_data_inputs(exp):
    e = EMBED_EXPERIMENTS[exp]
    inputs = {
        "h5ad": f"{filter_dir(e['dataset'])}/filtered.h5ad",
        "split": embed_split(exp),
    }
    if e["genes"] != "all":
        inputs["genes_tsv"] = f"{select_dir(e['dataset'], e['genes'])}/genes.tsv"
    return inputs


def check_embed(wildcards, with_size=True):
    exp = wildcards.experiment
    if exp not in EMBED_EXPERIMENTS:
        raise WorkflowError(f"no experiment '{exp}' under embed.experiments")
    check_hash(embed_hash(exp), wildcards.ehash, exp)
    if with_size:
        if int(wildcards.size) not in EMBED_EXPERIMENTS[exp]["sizes"]:
            raise WorkflowError(
                f"size {wildcards.size} is not run in embed experiment '{exp}'"
            )
        check_hash(
            embed_model_hash(exp, wildcards.size),
            wildcards.mhash,
            f"{exp}/fe{wildcards.size}d",
        )
    return exp


def embed_train_inputs(wildcards):
    exp = check_embed(wildcards)
    return {
        **embed_data_inputs(exp),
        "code": package_sources(*EMBED_STAGE_CODE),
    }


def embed_evaluate_inputs(wildcards):
    exp = check_embed(wildcards)
    check_hash(
        embed_eval_hash(exp, wildcards.size), wildcards.vhash, f"{exp} evaluation"
    )
    mdir = embed_model_dir(exp, wildcards.size)
    return {
        **embed_data_inputs(exp),
        "kegg": f"{references_dir()}/kegg_pathways.tsv",
        "samples": [f"{mdir}/fold_{k}/embedding.h5ad" for k in embed_run_folds()],
        "genes_emb": [
            f"{mdir}/fold_{k}/gene_embedding.h5ad" for k in embed_run_folds()
        ],
        "entries": [
            f"{mdir}/fold_{k}/masked_entries.tsv.gz" for k in embed_run_folds()
        ],
        "code": package_sources(*EMBED_METRICS_CODE),
    }


def embed_report_inputs(wildcards):
    exp = check_embed(wildcards, with_size=False)
    check_hash(embed_report_hash(exp), wildcards.chash, f"{exp} report")
    sizes = EMBED_EXPERIMENTS[exp]["sizes"]
    return {
        **embed_data_inputs(exp),
        "kegg": f"{references_dir()}/kegg_pathways.tsv",
        "classifiers": [f"{embed_eval_dir(exp, s)}/classifiers.tsv" for s in sizes],
        "genes": [f"{embed_eval_dir(exp, s)}/gene_neighbours.tsv" for s in sizes],
        "imputation": [f"{embed_eval_dir(exp, s)}/imputation.tsv" for s in sizes],
        "coordinates": [f"{embed_eval_dir(exp, s)}/coordinates.tsv.gz" for s in sizes],
        "genes_emb": [
            f"{embed_model_dir(exp, s)}/fold_0/gene_embedding.h5ad" for s in sizes
        ],
        "code": package_sources("stages/embed.py", "experiment.py", "plots.py"),
    }


def embed_impute_inputs(wildcards):
    exp = check_embed(wildcards, with_size=False)
    check_hash(embed_impute_hash(exp), wildcards.mhash, f"{exp} imputation")
    inputs = embed_data_inputs(exp)
    del inputs[
        "split"
    ]  # every sample's observed entries are used: nothing is scored on held-out samples
    return {
        **inputs,
        "expression": f"{download_dir(EMBED_EXPERIMENTS[exp]['dataset'])}/expression.tsv.gz",
        "code": package_sources(*EMBED_STAGE_CODE, "filtering.py"),
    }


def embed_gpu(wildcards):
    """A GPU only where one will be used (see train_gpu)."""
    if EMBED["device"] == "cpu":
        return 0
    if EMBED["device"] == "cuda":
        return 1
    import shutil

    return 1 if shutil.which("nvidia-smi") else 0
