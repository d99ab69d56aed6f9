# Generator stage: the experiment split, one training job per model and fold, one evaluation per
# model (every metric, every fold, the same function for models, peers and the real ceiling), and
# the comparison table and figures per experiment.


rule split_samples:
    input:
        unpack(split_inputs),
    output:
        split="results/{dataset}/generate-{experiment}-{ehash}/split.tsv",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/split.log",
    wildcard_constraints:
        experiment="[A-Za-z0-9_]+",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        dataset=lambda w: DATASETS[EXPERIMENTS[w.experiment]["dataset"]],
        folds=GENERATE["folds"],
        val_fraction=GENERATE["val_fraction"],
        seed=config["seed"],
    script:
        "../../scripts/split_samples.py"


rule train_generator:
    input:
        unpack(train_inputs),
    output:
        model="results/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}/model.pt",
        synthetic="results/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}/synthetic.h5ad",
        curve="results/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}/training_curve.tsv",
        card="results/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}/model_card.json",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}.log",
    benchmark:
        "results/benchmarks/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/fold_{fold}.tsv"
    wildcard_constraints:
        experiment="[A-Za-z0-9_]+",
        model="wgan_gp|cvae|ctgan|tvae|gaussian|shuffled",
        fold="[0-9]+",
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
    script:
        "../../scripts/train_generator.py"


rule evaluate_generator:
    input:
        unpack(evaluate_inputs),
    output:
        metrics="results/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/evaluation-{vhash}/metrics.tsv",
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/evaluation-{vhash}.log",
    benchmark:
        "results/benchmarks/{dataset}/generate-{experiment}-{ehash}/{model}-{mhash}/evaluation-{vhash}.tsv"
    wildcard_constraints:
        experiment="[A-Za-z0-9_]+",
        model="real_train|wgan_gp|cvae|ctgan|tvae|gaussian|shuffled",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        experiment=lambda w: experiment_spec(w.experiment),
        folds=run_folds(),
        evaluation=GENERATE["evaluation"],
        seed=config["seed"],
    script:
        "../../scripts/evaluate_generator.py"


rule compare_generators:
    input:
        unpack(compare_inputs),
    output:
        long=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/comparison.tsv",
            caption="../report/comparison.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "all metrics, per model"},
        ),
        table=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/comparison_table.tsv",
            caption="../report/comparison_table.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "comparison table"},
        ),
        distances=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/distance_matrices.png",
            caption="../report/distance_matrices.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "distance matrices"},
        ),
        distributions=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/distributions.png",
            caption="../report/distributions.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "distributions"},
        ),
        pca=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/pca.png",
            caption="../report/pca.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "PCA"},
        ),
        curves=report(
            "results/{dataset}/generate-{experiment}-{ehash}/compare-{chash}/training_curves.png",
            caption="../report/training_curves.rst",
            category="4. Generators",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "file": "training curves"},
        ),
    log:
        "logs/{dataset}/generate-{experiment}-{ehash}/compare-{chash}.log",
    wildcard_constraints:
        experiment="[A-Za-z0-9_]+",
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
