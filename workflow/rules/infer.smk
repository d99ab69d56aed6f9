# Landmark -> target inference stage: per experiment (dataset, landmark set, target cap)
# and fold of the shared split, optionally a group-lasso MLP that learns a landmark set
# (learn_landmarks), one job per landmark set x model x fold (train_inference_model), one
# evaluation per model (evaluate_inference) and the comparison table and figures
# (compare_inference); predict_targets applies a trained model to a user's landmark-only matrix.
# Input functions, directory patterns and targets: workflow/rules/paths/infer.smk.


rule learn_landmarks:
    input:
        unpack(learn_inputs),
    output:
        **files(INFER_LEARNED, **LEARNED_FILES),
    log:
        log_of(INFER_LEARNED),
    benchmark:
        benchmark_of(INFER_LEARNED)
    conda:
        "../../envs/generate.yaml"
    threads: INFER.section["threads"]
    resources:
        **training_resources(INFER, "dgex_mlp"),
    params:
        job=lambda w: INFER.learn_params(w.experiment),
    script:
        "../../scripts/learn_landmarks.py"


rule train_inference_model:
    input:
        unpack(infer_train_inputs),
    output:
        **files(f"{INFER_MODEL}/fold_{{fold}}", **REGRESSOR_FILES),
    log:
        log_of(f"{INFER_MODEL}/fold_{{fold}}"),
    benchmark:
        benchmark_of(f"{INFER_MODEL}/fold_{{fold}}")
    conda:
        "../../envs/generate.yaml"
    threads: INFER.section["threads"]
    resources:
        **training_resources(INFER),
    params:
        job=lambda w: INFER.train_params(w.experiment, w.model),
    script:
        "../../scripts/train_inference_model.py"


rule evaluate_inference:
    input:
        unpack(infer_evaluate_inputs),
    output:
        **files(INFER_EVALUATION, metrics="metrics.tsv", per_gene="per_gene.tsv"),
    log:
        log_of(INFER_EVALUATION),
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        job=INFER.evaluation_params(),
    script:
        "../../scripts/evaluate_inference.py"


rule compare_inference:
    input:
        unpack(infer_compare_inputs),
    output:
        **report_files(
            f"{INFER_EXPERIMENT}/compare-{{compare_hash}}",
            "5. Landmark inference",
            INFER_COMPARE_OUTPUTS,
        ),
    log:
        log_of(f"{INFER_EXPERIMENT}/compare-{{compare_hash}}"),
    conda:
        "../../envs/generate.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: INFER.compare_params(w.experiment),
    script:
        "../../scripts/compare_inference.py"


rule predict_targets:
    input:
        unpack(predict_inputs),
    output:
        **files(
            INFER_PREDICT,
            h5ad="predictions.h5ad",
            tsv="predictions.tsv",
            summary="summary.json",
        ),
    log:
        log_of(INFER_PREDICT),
    conda:
        "../../envs/generate.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: INFER.predict_params(w.name),
    script:
        "../../scripts/predict_targets.py"
