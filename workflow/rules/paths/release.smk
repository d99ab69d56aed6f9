# release stage: input functions, directory patterns and targets (its rules:
# workflow/rules/release.smk; directories, hashes and job params: gexflow.paths, the `release*`
# methods of each model stage).
RELEASE = f"{RESULTS}/{{dataset}}/release-{{experiment}}-{{release_hash}}"
COHORT = f"{RELEASE}/cohort-{{cohort_hash}}"
INFER_RELEASE = f"{INFER_EXPERIMENT}/release-{{release_hash}}"
EMBED_RELEASE = f"{EMBED_EXPERIMENT}/release-{{release_hash}}"
EMBED_NEW = f"{EMBED_EXPERIMENT}/embed_new-{{name}}-{{predict_hash}}"
REFIT_FILES = {
    "model": "model.pt",
    "card": "release_card.json",
    "pool": "covariate_pool.tsv",
    "gene_table": "genes.tsv",
    "choice": "model_choice.tsv",
    "holdout": "holdout.tsv",
    "curve": "training_curve.tsv",
}
# sample_release: output name -> (file, report caption, report label)
COHORT_OUTPUTS = {
    "h5ad": ("synthetic_cohort.h5ad", "release_cohort", "synthetic cohort (AnnData)"),
    "tsv": (
        "synthetic_cohort.tsv.gz",
        "release_cohort",
        "synthetic cohort (genes x samples)",
    ),
    "report": (
        "release_report.tsv",
        "release_report",
        "release report: choice, test row, privacy audit",
    ),
}


def release_targets():
    out = []
    for exp in GENERATE.releases():
        out += [f"{GENERATE.release_dir(exp)}/{f}" for f in REFIT_FILES.values()]
        out += [
            f"{GENERATE.cohort_dir(exp)}/{f}" for f, _, _ in COHORT_OUTPUTS.values()
        ]
    for exp in INFER.releases():
        out += [
            f"{INFER.release_dir(exp)}/{f}" for f in ("model.pt", "model_card.json")
        ]
    for exp in EMBED.releases():
        out += [
            f"{EMBED.release_dir(exp)}/{f}"
            for f in ("model.pt", "embedding.h5ad", "model_card.json")
        ]
    for name in EMBED.embed_new():
        out += [
            f"{EMBED.embed_new_dir(name)}/{f}"
            for f in ("embedding.h5ad", "summary.json")
        ]
    return out


def release_request(stage, wildcards, directory):
    """The experiment a requested release path names (its hash checked against the config)."""
    exp = wildcards.experiment
    if exp not in stage.releases():
        raise WorkflowError(
            f"{stage.stage} experiment '{exp}' has no release in the current config"
        )
    check_dir(
        stage.release_dir(exp),
        directory.format(**wildcards).rsplit("/", 1)[-1],
        f"{exp} release",
    )
    return exp


def refit_inputs(wildcards):
    exp = release_request(GENERATE, wildcards, "release-{experiment}-{release_hash}")
    models = GENERATE.models(exp)
    cards = [
        f"{GENERATE.final_dir(exp, m, s, k)}/model_card.json"
        for m in models
        for s in GENERATE.seeds(exp)
        for k in GENERATE.run_folds()
    ]
    data = GENERATE.data_inputs(exp)
    return {
        "h5ad": data["h5ad"],
        "genes": data["genes"],
        "cards": cards,
        "code": code("refit_generator", *models),
    }


def sample_inputs(wildcards):
    exp = release_request(GENERATE, wildcards, "release-{experiment}-{release_hash}")
    check_dir(
        GENERATE.cohort_dir(exp), f"cohort-{wildcards.cohort_hash}", f"{exp} cohort"
    )
    release = GENERATE.release_dir(exp)
    data = GENERATE.data_inputs(exp)
    inputs = {
        **{
            k: f"{release}/{REFIT_FILES[k]}"
            for k in ("model", "card", "pool", "gene_table", "holdout")
        },
        "h5ad": data["h5ad"],
        "genes": data["genes"],
        "table": f"{GENERATE.compare_dir(exp)}/comparison_table.tsv",
        "code": code("sample_release", *GENERATE.models(exp)),
    }
    rows = GENERATE.sample_params(exp)["covariates"]
    return inputs | ({"rows": rows} if rows else {})


def infer_release_inputs(wildcards):
    exp = INFER.check_request(wildcards)
    release_request(INFER, wildcards, "release-{release_hash}")
    models = INFER.models(exp)
    cards = [
        f"{INFER.model_dir(exp, 'landmarks', m)}/fold_{k}/model_card.json"
        for m in models
        for k in INFER.run_folds()
    ]
    return {
        **infer_data_inputs(exp),
        "cards": cards,
        "code": code("release_inference_model", *models),
    }


def embed_release_inputs(wildcards):
    exp = EMBED.check_request(wildcards)
    release_request(EMBED, wildcards, "release-{release_hash}")
    cards = [
        f"{EMBED.model_dir(exp, s)}/fold_{k}/model_card.json"
        for s in EMBED.sizes(exp)
        for k in EMBED.run_folds()
    ]
    inputs = EMBED.data_inputs(exp)
    del inputs["split"]  # every sample is embedded
    return {**inputs, "cards": cards, "code": code("release_embedding", "factorized")}


def embed_new_inputs(wildcards):
    spec = EMBED.embed_new_params(wildcards.name)["spec"]
    check_dir(
        EMBED.embed_new_dir(wildcards.name),
        f"embed_new-{wildcards.name}-{wildcards.predict_hash}",
        f"embed_samples {wildcards.name}",
    )
    return {
        "model": f"{EMBED.release_dir(spec['experiment'])}/model.pt",
        "matrix": spec["matrix"],
        "code": code("embed_samples", "factorized"),
    }
