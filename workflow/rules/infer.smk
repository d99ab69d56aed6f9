# Landmark -> target inference stage (issue 10): per experiment (dataset, landmark set, target cap)
# and fold of the shared split, optionally a group-lasso MLP that learns a landmark set
# (learn_landmarks), one job per landmark set x model x fold (train_inference_model), one
# evaluation per model (evaluate_inference) and the comparison table and figures
# (compare_inference); predict_targets applies a trained model to a user's landmark-only matrix.
# Paths, input functions and targets: workflow/rules/paths/infer.smk.


rule learn_landmarks:
    input:
        unpack(learn_inputs),
    output:
        genes=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/learned-{{lhash}}/fold_{{fold}}/genes.tsv",
        norms=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/learned-{{lhash}}/fold_{{fold}}/column_norms.tsv",
        curve=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/learned-{{lhash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/learned-{{lhash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/infer-{experiment}-{ehash}/learned-{lhash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/infer-{{experiment}}-{{ehash}}/learned-{{lhash}}/fold_{{fold}}.tsv"
    wildcard_constraints:
        lhash="[0-9a-f]{8}",
    conda:
        "../../envs/generate.yaml"
    threads: INFER["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=infer_gpu,
    params:
        experiment=lambda w: infer_spec(w.experiment),
        settings=INFER["learned"],
        loop=INFER["loop"],
        device=INFER["device"],
        seed=config["seed"],
    script:
        "../../scripts/learn_landmarks.py"


rule train_inference_model:
    input:
        unpack(infer_train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/fold_{{fold}}/model.pt",
        predictions=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/fold_{{fold}}/predictions.h5ad",
        curve=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/infer-{experiment}-{ehash}/{lmset}/{model}-{mhash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/fold_{{fold}}.tsv"
    wildcard_constraints:
        lmset="landmarks|learned",
    conda:
        "../../envs/generate.yaml"
    threads: INFER["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=infer_gpu,
    params:
        experiment=lambda w: infer_spec(w.experiment),
        settings=lambda w: infer_settings(w.experiment, w.model),
        loop=INFER["loop"],
        device=INFER["device"],
        seed=config["seed"],
    script:
        "../../scripts/train_inference_model.py"


rule evaluate_inference:
    input:
        unpack(infer_evaluate_inputs),
    output:
        metrics=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/evaluation-{{vhash}}/metrics.tsv",
        per_gene=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/{{lmset}}/{{model}}-{{mhash}}/evaluation-{{vhash}}/per_gene.tsv",
    log:
        "logs/{dataset}/infer-{experiment}-{ehash}/{lmset}/{model}-{mhash}/evaluation-{vhash}.log",
    wildcard_constraints:
        lmset="landmarks|learned",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        folds=infer_run_folds(),
    script:
        "../../scripts/evaluate_inference.py"


rule compare_inference:
    input:
        unpack(infer_compare_inputs),
    output:
        long=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/comparison.tsv",
            "infer_comparison",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="all metrics, per model and fold",
        ),
        table=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/comparison_table.tsv",
            "infer_comparison_table",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="comparison table",
        ),
        scatter=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/mae_scatter.png",
            "infer_mae_scatter",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="per-gene MAE, MLP vs linear",
        ),
        errors=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/error_distribution.png",
            "infer_error_distribution",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="error distribution",
        ),
        curves=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/training_curves.png",
            "infer_training_curves",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="training curves",
        ),
        overlap=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/landmark_overlap.tsv",
            "infer_landmark_overlap",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="learned vs L1000 overlap (table)",
        ),
        overlap_png=report_entry(
            f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/compare-{{chash}}/landmark_overlap.png",
            "infer_landmark_overlap",
            "5. Landmark inference",
            "{experiment}",
            experiment="{experiment}",
            file="learned vs L1000 overlap",
        ),
    log:
        "logs/{dataset}/infer-{experiment}-{ehash}/compare-{chash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        models=lambda w: infer_models(w.experiment),
        lmsets=lambda w: infer_lmsets(w.experiment),
    script:
        "../../scripts/compare_inference.py"


rule predict_targets:
    input:
        unpack(predict_inputs),
    output:
        h5ad=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/predict-{{name}}-{{phash}}/predictions.h5ad",
        tsv=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/predict-{{name}}-{{phash}}/predictions.tsv",
        summary=f"{RESULTS}/{{dataset}}/infer-{{experiment}}-{{ehash}}/predict-{{name}}-{{phash}}/summary.json",
    log:
        "logs/{dataset}/infer-{experiment}-{ehash}/predict-{name}-{phash}.log",
    wildcard_constraints:
        name="[A-Za-z0-9_]+",
        phash="[0-9a-f]{8}",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        spec=lambda w: predict_spec(w.name),
    script:
        "../../scripts/predict_targets.py"
