# infer stage: input functions and targets (its rules: workflow/rules/infer.smk; directories,
# hashes and job params: gexflow.paths.InferPaths).
INFER_EXPERIMENT = f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}"
INFER_LEARNED = f"{INFER_EXPERIMENT}/learned-{{learned_hash}}/fold_{{fold}}"
INFER_MODEL = f"{INFER_EXPERIMENT}/{{lmset}}/{{model}}-{{model_hash}}"
INFER_EVALUATION = f"{INFER_MODEL}/evaluation-{{evaluation_hash}}"
INFER_PREDICT = f"{INFER_EXPERIMENT}/predict-{{name}}-{{predict_hash}}"
LEARNED_FILES = {"genes": "genes.tsv", "norms": "column_norms.tsv", **TRAINED}
REGRESSOR_FILES = {"model": "model.pt", "predictions": "predictions.h5ad", **TRAINED}
# compare_inference: output name -> (file, report caption, report label)
INFER_COMPARE_OUTPUTS = {
    "long": ("comparison.tsv", "infer_comparison", "all metrics, per model and fold"),
    "table": ("comparison_table.tsv", "infer_comparison_table", "comparison table"),
    "scatter": ("mae_scatter.png", "infer_mae_scatter", "per-gene MAE, MLP vs linear"),
    "errors": (
        "error_distribution.png",
        "infer_error_distribution",
        "error distribution",
    ),
    "curves": ("training_curves.png", "infer_training_curves", "training curves"),
    "overlap": (
        "landmark_overlap.tsv",
        "infer_landmark_overlap",
        "learned vs L1000 overlap (table)",
    ),
    "overlap_png": (
        "landmark_overlap.png",
        "infer_landmark_overlap",
        "learned vs L1000 overlap",
    ),
}


def infer_targets():
    """Everything the inference experiments and predict jobs write (for the manifest)."""
    out = []
    for exp in INFER.run:
        out += [INFER.split_file(exp)]
        out += [
            f"{INFER.compare_dir(exp)}/{f}"
            for f, _, _ in INFER_COMPARE_OUTPUTS.values()
        ]
        for s in INFER.landmark_sets(exp):
            for m in INFER.models(exp):
                out += [
                    f"{INFER.model_dir(exp, s, m)}/fold_{k}/{f}"
                    for k in INFER.run_folds()
                    for f in ("model.pt", "predictions.h5ad", "model_card.json")
                ]
                out += [
                    f"{INFER.evaluation_dir(exp, s, m)}/{f}"
                    for f in ("metrics.tsv", "per_gene.tsv")
                ]
        if INFER.learned_on(exp):
            out += [
                f"{INFER.learned_dir(exp)}/fold_{k}/{f}"
                for k in INFER.run_folds()
                for f in ("genes.tsv", "column_norms.tsv")
            ]
    for name in INFER.predictions():
        out += [
            f"{INFER.predict_dir(name)}/{f}"
            for f in ("predictions.h5ad", "predictions.tsv", "summary.json")
        ]
    return out


def infer_data_inputs(exp):
    inputs = INFER.data_inputs(exp)
    inputs["landmarks"] = inputs.pop("genes")
    return inputs


def learn_inputs(wildcards):
    exp = INFER.check_request(wildcards)
    if not INFER.learned_on(exp):
        raise WorkflowError(f"experiment '{exp}' does not learn landmarks")
    check_dir(
        INFER.learned_dir(exp),
        f"learned-{wildcards.learned_hash}",
        f"{exp} learned landmarks",
    )
    return {**infer_data_inputs(exp), "code": code("learn_landmarks")}


def infer_model_request(wildcards):
    exp, model, lmset = INFER.check_request(wildcards), wildcards.model, wildcards.lmset
    if model not in INFER.models(exp) or lmset not in INFER.landmark_sets(exp):
        raise WorkflowError(
            f"model '{model}' ({lmset}) is not run in experiment '{exp}'"
        )
    check_dir(
        INFER.model_dir(exp, lmset, model),
        f"{lmset}/{model}-{wildcards.model_hash}",
        f"{exp}/{lmset}/{model}",
    )
    return exp, model, lmset


def infer_train_inputs(wildcards):
    exp, model, _ = infer_model_request(wildcards)
    inputs = {**infer_data_inputs(exp), "code": code("train_inference_model", model)}
    if INFER.learned_on(exp):
        inputs["learned"] = f"{INFER.learned_dir(exp)}/fold_{wildcards.fold}/genes.tsv"
    return inputs


def infer_evaluate_inputs(wildcards):
    exp, model, lmset = infer_model_request(wildcards)
    check_dir(
        INFER.evaluation_dir(exp, lmset, model),
        f"evaluation-{wildcards.evaluation_hash}",
        f"{exp} evaluation",
    )
    mdir = INFER.model_dir(exp, lmset, model)
    return {
        **infer_data_inputs(exp),
        "predictions": [f"{mdir}/fold_{k}/predictions.h5ad" for k in INFER.run_folds()],
        "code": code("evaluate_inference"),
    }


def infer_compare_inputs(wildcards):
    exp = INFER.check_request(wildcards)
    check_dir(
        INFER.compare_dir(exp), f"compare-{wildcards.compare_hash}", f"{exp} comparison"
    )
    runs = [
        (s, m, k)
        for s in INFER.landmark_sets(exp)
        for m in INFER.models(exp)
        for k in INFER.run_folds()
    ]
    inputs = {
        "landmarks": infer_data_inputs(exp)["landmarks"],
        "per_gene": [
            f"{INFER.evaluation_dir(exp, s, m)}/per_gene.tsv"
            for s in INFER.landmark_sets(exp)
            for m in INFER.models(exp)
        ],
        "cards": [
            f"{INFER.model_dir(exp, s, m)}/fold_{k}/model_card.json" for s, m, k in runs
        ],
        "curves": [
            f"{INFER.model_dir(exp, s, m)}/fold_{k}/training_curve.tsv"
            for s, m, k in runs
        ],
        "code": code("compare_inference"),
    }
    if INFER.learned_on(exp):
        learned = INFER.learned_dir(exp)
        inputs["learned"] = [f"{learned}/fold_{k}/genes.tsv" for k in INFER.run_folds()]
        inputs["learned_curves"] = [
            f"{learned}/fold_{k}/training_curve.tsv" for k in INFER.run_folds()
        ]
    return inputs


def predict_inputs(wildcards):
    spec = INFER.predict_params(wildcards.name)["spec"]
    check_dir(
        INFER.predict_dir(wildcards.name),
        f"predict-{wildcards.name}-{wildcards.predict_hash}",
        f"predict {wildcards.name}",
    )
    return {
        "model": INFER.predict_model(wildcards.name),
        "matrix": spec["matrix"],
        "code": code("predict_targets"),
    }
