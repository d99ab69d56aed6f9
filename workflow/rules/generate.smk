# Generator stage: one training job per model and fold (on the shared split), one evaluation per
# model (every metric, every fold, the same function for models, peers and the real ceiling), and
# the comparison table and figures per experiment. Models and their code files come from the
# registry (src/gexflow/models/registry.py).
# Paths, input functions and targets: workflow/rules/paths/generate.smk.


rule train_generator:
    input:
        unpack(train_inputs),
    output:
        model=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/model.pt",
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: GENERATE["threads"]
    resources:
        mem_mb=4000,
        runtime="2h",
        gpu=train_gpu,
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        settings=lambda w: model_settings(w.experiment, w.model),
        loop=GENERATE["loop"],
        device=GENERATE["device"],
        seed=config["seed"],
        generator_seed=generator_seed_param,
    script:
        "../../scripts/train_generator.py"


# One point of a model's validation grid (generate.grid); select_generator picks among them.
use rule train_generator as train_grid_point with:
    output:
        model=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/grid-{{point}}/fold_{{fold}}/model.pt",
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/grid-{{point}}/fold_{{fold}}/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/grid-{{point}}/fold_{{fold}}/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/grid-{{point}}/fold_{{fold}}/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/grid-{point}/fold_{fold}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/grid-{{point}}/fold_{{fold}}.tsv"
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        settings=point_settings,
        loop=GENERATE["loop"],
        device=GENERATE["device"],
        seed=config["seed"],
        generator_seed=generator_seed_param,


# The grid point with the best validation score (within-class gamma on the validation split; the
# test split is never read), copied with its card (which records the grid and the choice).
rule select_generator:
    input:
        unpack(grid_select_inputs),
    output:
        synthetic=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/selected/synthetic.h5ad",
        curve=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/selected/training_curve.tsv",
        card=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/fold_{{fold}}/selected/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}.select.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        grid=lambda w: model_grid(w.experiment, w.model),
    script:
        "../../scripts/select_generator.py"


rule evaluate_generator:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/evaluation-{{vhash}}/metrics.tsv",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/evaluation-{vhash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/generate-{{experiment}}-{{ehash}}/{{model}}-{{mhash}}/evaluation-{{vhash}}.tsv"
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        folds=run_folds(),
        runs=lambda w: evaluation_runs(w.experiment, w.model),
        evaluation=GENERATE["evaluation"],
        seed=config["seed"],
    script:
        "../../scripts/evaluate_generator.py"


rule compare_generators:
    input:
        unpack(compare_inputs),
    output:
        long=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/comparison.tsv",
            "comparison",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="all metrics, per model",
        ),
        table=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/comparison_table.tsv",
            "comparison_table",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="comparison table",
        ),
        paired=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/paired_differences.tsv",
            "paired_differences",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="paired differences vs the baseline (95% CI)",
        ),
        within_distances=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/within_class_distances.png",
            "within_class_distances",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="within-class distance matrices",
        ),
        prdc_utility=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/prdc_utility.png",
            "prdc_utility",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="PRDC and augmentation utility",
        ),
        distances=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/distance_matrices.png",
            "distance_matrices",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="distance matrices",
        ),
        distributions=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/distributions.png",
            "distributions",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="distributions",
        ),
        pca=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/pca.png",
            "pca",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="PCA",
        ),
        curves=report_entry(
            f"{RESULTS}/{{dataset}}/generate-{{experiment}}-{{ehash}}/compare-{{chash}}/training_curves.png",
            "training_curves",
            "4. Generators",
            "{experiment}",
            experiment="{experiment}",
            file="training curves",
        ),
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/compare-{chash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="20m",
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        models=lambda w: experiment_models(w.experiment),
        note=lambda w: EXPERIMENTS[w.experiment].get("note", ""),
        evaluation=GENERATE["evaluation"],
        seed=config["seed"],
    script:
        "../../scripts/compare_generators.py"
