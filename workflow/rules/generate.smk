# Generator stage: one training job per model, seed and fold (on the shared split; a grid point
# per job for a model with a validation grid, the best chosen by select_generator), one
# evaluation per model (every metric, every fold, the same function for models, peers and the
# real ceiling), and the comparison table and figures per experiment. Models come from the
# registry (src/gexflow/models/registry.py); code inputs from the imports (gexflow.code_inputs).
# Input functions, directory patterns and targets: workflow/rules/paths/generate.smk.


rule train_generator:
    input:
        unpack(train_inputs),
    output:
        **files(GENERATE_FOLD, model="model.pt", **GENERATOR_FILES),
    log:
        log_of(GENERATE_FOLD),
    benchmark:
        benchmark_of(GENERATE_FOLD)
    conda:
        "../../envs/generate.yaml"
    threads: GENERATE.section["threads"]
    resources:
        **training_resources(GENERATE),
    params:
        job=train_job,
    script:
        "../../scripts/train_generator.py"


# One point of a model's validation grid (generate.grid); select_generator picks among them.
use rule train_generator as train_grid_point with:
    output:
        **files(GENERATE_POINT, model="model.pt", **GENERATOR_FILES),
    log:
        log_of(GENERATE_POINT),
    benchmark:
        benchmark_of(GENERATE_POINT)


# The grid point with the best validation score (within-class gamma on the validation split; the
# test split is never read), copied with its card (which records the grid and the choice).
rule select_generator:
    input:
        unpack(select_inputs_of_grid),
    output:
        **files(f"{GENERATE_FOLD}/selected", **GENERATOR_FILES),
    log:
        log_of(f"{GENERATE_FOLD}/selected"),
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
        metrics=f"{GENERATE_MODEL}/evaluation-{{evaluation_hash}}/metrics.tsv",
    log:
        log_of(f"{GENERATE_MODEL}/evaluation-{{evaluation_hash}}"),
    benchmark:
        benchmark_of(f"{GENERATE_MODEL}/evaluation-{{evaluation_hash}}")
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
        **report_files(
            f"{GENERATE_EXPERIMENT}/compare-{{compare_hash}}",
            "4. Generators",
            COMPARE_OUTPUTS,
        ),
    log:
        log_of(f"{GENERATE_EXPERIMENT}/compare-{{compare_hash}}"),
    conda:
        "../../envs/generate.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: GENERATE.compare_params(w.experiment),
    script:
        "../../scripts/compare_generators.py"
