# Generator stage: one training job per model and fold (on the shared split), one evaluation per
# model (every metric, every fold, the same function for models, peers and the real ceiling), and
# the comparison table and figures per experiment. Models come from the registry
# (src/gexflow/models/registry.py); code inputs from the imports (gexflow.code_inputs).
# Input functions and targets: workflow/rules/paths/generate.smk.


rule train_generator:
    input:
        unpack(train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/model.pt",
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{experiment_hash}/{model}-{model_hash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: GENERATE.section["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=lambda w: GENERATE.gpu(w.model),
    params:
        job=train_job,
    script:
        "../../scripts/train_generator.py"


# One point of a model's validation grid (generate.grid); select_generator picks among them.
use rule train_generator as train_grid_point with:
    output:
        model=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/grid-{{point}}/fold_{{fold}}/model.pt",
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/grid-{{point}}/fold_{{fold}}/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/grid-{{point}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/grid-{{point}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{experiment_hash}/{model}-{model_hash}/grid-{point}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/grid-{{point}}/fold_{{fold}}.tsv"


# The grid point with the best validation score (within-class gamma on the validation split; the
# test split is never read), copied with its card (which records the grid and the choice).
rule select_generator:
    input:
        unpack(select_inputs_of_grid),
    output:
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/selected/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/selected/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/fold_{{fold}}/selected/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{experiment_hash}/{model}-{model_hash}/fold_{fold}.select.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        job=lambda w: {"grid": GENERATE.grid(w.experiment, w.model)},
    script:
        "../../scripts/select_generator.py"


rule evaluate_generator:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/evaluation-{{evaluation_hash}}/metrics.tsv",
    log:
        "logs/{dataset}/generate-{experiment}-{experiment_hash}/{model}-{model_hash}/evaluation-{evaluation_hash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/{{model}}-{{model_hash}}/evaluation-{{evaluation_hash}}.tsv"
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        job=lambda w: GENERATE.evaluation_params(w.experiment, w.model),
    script:
        "../../scripts/evaluate_generator.py"


rule compare_generators:
    input:
        unpack(compare_inputs),
    output:
        long=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/comparison.tsv",
            "comparison",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="all metrics, per model",
        ),
        table=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/comparison_table.tsv",
            "comparison_table",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="comparison table",
        ),
        paired=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/paired_differences.tsv",
            "paired_differences",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="paired differences vs the baseline (95% CI)",
        ),
        within_distances=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/within_class_distances.png",
            "within_class_distances",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="within-class distance matrices",
        ),
        prdc_utility=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/prdc_utility.png",
            "prdc_utility",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="PRDC and augmentation utility",
        ),
        distances=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/distance_matrices.png",
            "distance_matrices",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="distance matrices",
        ),
        distributions=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/distributions.png",
            "distributions",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="distributions",
        ),
        pca=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/pca.png",
            "pca",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="PCA",
        ),
        curves=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{experiment_hash}}/compare-{{compare_hash}}/training_curves.png",
            "training_curves",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="training curves",
        ),
    log:
        "logs/{dataset}/generate-{experiment}-{experiment_hash}/compare-{compare_hash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        job=lambda w: GENERATE.compare_params(w.experiment),
    script:
        "../../scripts/compare_generators.py"
