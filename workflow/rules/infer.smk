# Landmark -> target inference stage: per experiment (dataset, landmark set, target cap)
# and fold of the shared split, optionally a group-lasso MLP that learns a landmark set
# (learn_landmarks), one job per landmark set x model x fold (train_inference_model), one
# evaluation per model (evaluate_inference) and the comparison table and figures
# (compare_inference); predict_targets applies a trained model to a user's landmark-only matrix.
# Input functions and targets: workflow/rules/paths/infer.smk.


rule learn_landmarks:
    input:
        unpack(learn_inputs),
    output:
        genes=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/learned-{{learned_hash}}/fold_{{fold}}/genes.tsv",
        norms=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/learned-{{learned_hash}}/fold_{{fold}}/column_norms.tsv",
        curve=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/learned-{{learned_hash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/learned-{{learned_hash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/infer-{experiment}-{experiment_hash}/learned-{learned_hash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/learned-{{learned_hash}}/fold_{{fold}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: INFER.section["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=lambda w: INFER.gpu("dgex_mlp"),
    params:
        job=lambda w: INFER.learn_params(w.experiment),
    script:
        "../../scripts/learn_landmarks.py"


rule train_inference_model:
    input:
        unpack(infer_train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/fold_{{fold}}/model.pt",
        predictions=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/fold_{{fold}}/predictions.h5ad",
        curve=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/infer-{experiment}-{experiment_hash}/{lmset}/{model}-{model_hash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/fold_{{fold}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: INFER.section["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=lambda w: INFER.gpu(w.model),
    params:
        job=lambda w: INFER.train_params(w.experiment, w.model),
    script:
        "../../scripts/train_inference_model.py"


rule evaluate_inference:
    input:
        unpack(infer_evaluate_inputs),
    output:
        metrics=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/evaluation-{{evaluation_hash}}/metrics.tsv",
        per_gene=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/{{lmset}}/{{model}}-{{model_hash}}/evaluation-{{evaluation_hash}}/per_gene.tsv",
    log:
        "logs/{dataset}/infer-{experiment}-{experiment_hash}/{lmset}/{model}-{model_hash}/evaluation-{evaluation_hash}.log",
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
        long=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/comparison.tsv",
            "infer_comparison",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="all metrics, per model and fold",
        ),
        table=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/comparison_table.tsv",
            "infer_comparison_table",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="comparison table",
        ),
        scatter=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/mae_scatter.png",
            "infer_mae_scatter",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="per-gene MAE, MLP vs linear",
        ),
        errors=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/error_distribution.png",
            "infer_error_distribution",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="error distribution",
        ),
        curves=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/training_curves.png",
            "infer_training_curves",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="training curves",
        ),
        overlap=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/landmark_overlap.tsv",
            "infer_landmark_overlap",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="learned vs L1000 overlap (table)",
        ),
        overlap_png=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/landmark_overlap.png",
            "infer_landmark_overlap",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="learned vs L1000 overlap",
        ),
    log:
        "logs/{dataset}/infer-{experiment}-{experiment_hash}/compare-{compare_hash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        job=lambda w: INFER.compare_params(w.experiment),
    script:
        "../../scripts/compare_inference.py"


rule predict_targets:
    input:
        unpack(predict_inputs),
    output:
        h5ad=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/predict-{{name}}-{{predict_hash}}/predictions.h5ad",
        tsv=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/predict-{{name}}-{{predict_hash}}/predictions.tsv",
        summary=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{experiment_hash}}/predict-{{name}}-{{predict_hash}}/summary.json",
    log:
        "logs/{dataset}/infer-{experiment}-{experiment_hash}/predict-{name}-{predict_hash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        job=lambda w: INFER.predict_params(w.name),
    script:
        "../../scripts/predict_targets.py"
