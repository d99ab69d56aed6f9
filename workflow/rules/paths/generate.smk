# generate stage: input functions and targets (its rules: workflow/rules/generate.smk; directories,
# hashes and job params: gexflow.paths.GeneratePaths).
GENERATE_EXPERIMENT = (
    f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}"
)
GENERATE_MODEL = f"{GENERATE_EXPERIMENT}/{{model}}-{{model_hash}}"
GENERATE_FOLD = f"{GENERATE_MODEL}/fold_{{fold}}"
GENERATE_POINT = f"{GENERATE_MODEL}/grid-{{point}}/fold_{{fold}}"
GENERATOR_FILES = {"synthetic": "synthetic.h5ad", **TRAINED}
# compare_generators: output name -> (file, report caption, report label)
COMPARE_OUTPUTS = {
    "long": ("comparison.tsv", "comparison", "all metrics, per model"),
    "table": ("comparison_table.tsv", "comparison_table", "comparison table"),
    "paired": (
        "paired_differences.tsv",
        "paired_differences",
        "paired differences vs the baseline (95% CI)",
    ),
    "within_distances": (
        "within_class_distances.png",
        "within_class_distances",
        "within-class distance matrices",
    ),
    "prdc_utility": (
        "prdc_utility.png",
        "prdc_utility",
        "PRDC and augmentation utility",
    ),
    "distances": ("distance_matrices.png", "distance_matrices", "distance matrices"),
    "distributions": ("distributions.png", "distributions", "distributions"),
    "pca": ("pca.png", "pca", "PCA"),
    "curves": ("training_curves.png", "training_curves", "training curves"),
}


def generate_targets():
    """Everything the experiments write, so the manifest records its sha256."""
    out = []
    for exp in GENERATE.run:
        out += [GENERATE.split_file(exp)]
        out += [
            f"{GENERATE.compare_dir(exp)}/{f}" for f, _, _ in COMPARE_OUTPUTS.values()
        ]
        for m in GENERATE.models(exp):
            for s in GENERATE.seeds(exp):
                for k in GENERATE.run_folds():
                    out += [
                        f"{GENERATE.final_dir(exp, m, s, k)}/{f}"
                        for f in ("synthetic.h5ad", "model_card.json")
                    ]
                    points = range(len(GENERATE.grid(exp, m)))
                    out += (
                        [
                            f"{GENERATE.model_dir(exp, m, s)}/grid-{p}/fold_{k}/model.pt"
                            for p in points
                        ]
                        if GENERATE.is_tuned(exp, m)
                        else [f"{GENERATE.model_dir(exp, m, s)}/fold_{k}/model.pt"]
                    )
        out += [
            f"{GENERATE.evaluation_dir(exp, m)}/metrics.tsv"
            for m in [CEILING] + GENERATE.models(exp)
        ]
    return out


def generate_request(wildcards, tuned=None):
    """The experiment, model and generator seed a requested training path names (hashes checked)."""
    exp, model = GENERATE.check_request(wildcards), wildcards.model
    if model not in GENERATE.models(exp):
        raise WorkflowError(f"model '{model}' is not run in experiment '{exp}'")
    seed = GENERATE.seed_of(exp, model, wildcards.model_hash)
    if tuned is not None and GENERATE.is_tuned(exp, model) != tuned:
        raise WorkflowError(
            f"{exp}/{model}: "
            + (
                "has a grid: its points train in grid-<p>/"
                if not tuned
                else "has no grid"
            )
        )
    return exp, model, seed


def train_inputs(wildcards):
    exp, model, _ = generate_request(wildcards, tuned=hasattr(wildcards, "point"))
    return {**GENERATE.data_inputs(exp), "code": code("train_generator", model)}


def train_job(wildcards):
    exp, model, seed = generate_request(wildcards)
    point = int(wildcards.point) if hasattr(wildcards, "point") else None
    if point is not None and point >= len(GENERATE.grid(exp, model)):
        raise WorkflowError(f"{exp}/{model}: no grid point {point}")
    return GENERATE.train_params(exp, model, seed, point)


def select_inputs_of_grid(wildcards):
    """Every grid point of one model, seed and fold (rule select_generator)."""
    exp, model, seed = generate_request(wildcards, tuned=True)
    base = GENERATE.model_dir(exp, model, seed)
    points = range(len(GENERATE.grid(exp, model)))
    return {
        key: [f"{base}/grid-{p}/fold_{wildcards.fold}/{name}" for p in points]
        for key, name in (
            ("cards", "model_card.json"),
            ("synthetic", "synthetic.h5ad"),
            ("curves", "training_curve.tsv"),
        )
    } | {"code": code("select_generator")}


def evaluate_request(wildcards):
    exp, model = GENERATE.check_request(wildcards), wildcards.model
    requested = f"{model}-{wildcards.model_hash}/evaluation-{wildcards.evaluation_hash}"
    check_dir(GENERATE.evaluation_dir(exp, model), requested, f"{exp} evaluation")
    return exp, model


def evaluate_inputs(wildcards):
    exp, model = evaluate_request(wildcards)
    inputs = {**GENERATE.data_inputs(exp), "code": code("evaluate_generator")}
    if model != CEILING:  # ordered as evaluation_runs: seed-major
        inputs["synthetic"] = [
            f"{GENERATE.final_dir(exp, model, s, k)}/synthetic.h5ad"
            for s, k in GENERATE.evaluation_runs(exp, model)
        ]
    return inputs


def compare_inputs(wildcards):
    exp = GENERATE.check_request(wildcards)
    check_dir(
        GENERATE.compare_dir(exp),
        f"compare-{wildcards.compare_hash}",
        f"{exp} comparison",
    )
    models = GENERATE.models(exp)
    runs = [
        (m, s, k)
        for m in models
        for s in GENERATE.seeds(exp)
        for k in GENERATE.run_folds()
    ]
    return {
        **GENERATE.data_inputs(exp),
        "metrics": [
            f"{GENERATE.evaluation_dir(exp, m)}/metrics.tsv" for m in [CEILING] + models
        ],
        "synthetic": [
            f"{GENERATE.final_dir(exp, m, None, 0)}/synthetic.h5ad" for m in models
        ],
        "curves": [
            f"{GENERATE.final_dir(exp, m, None, 0)}/training_curve.tsv" for m in models
        ],
        "cards": [
            f"{GENERATE.final_dir(exp, m, s, k)}/model_card.json" for m, s, k in runs
        ],
        "code": code("compare_generators"),
    }
