# Release stage: what a user came for. For a generate experiment with a `release`, the model chosen
# on validation is refitted on the cohort minus a privacy holdout (refit_generator) and a synthetic
# cohort is drawn from it with its quality and privacy record (sample_release: changing the
# request or the seed reruns only this); for infer and embed experiments, one model refitted on
# every sample (release_inference_model, release_embedding), and a user's new matrix embedded
# with the released network (embed_samples).
# Input functions, directory patterns and targets: workflow/rules/paths/release.smk.


rule refit_generator:
    input:
        unpack(refit_inputs),
    output:
        **files(RELEASE, **REFIT_FILES),
    log:
        log_of(RELEASE),
    benchmark:
        benchmark_of(RELEASE)
    conda:
        "../../envs/generate.yaml"
    threads: GENERATE.section["threads"]
    resources:
        **training_resources(GENERATE, "wgan_gp"),
    params:
        job=lambda w: GENERATE.refit_params(w.experiment),
    script:
        "../../scripts/refit_generator.py"


rule sample_release:
    input:
        unpack(sample_inputs),
    output:
        **report_files(COHORT, "7. Release", COHORT_OUTPUTS),
    log:
        log_of(COHORT),
    conda:
        "../../envs/generate.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: GENERATE.sample_params(w.experiment),
    script:
        "../../scripts/sample_release.py"


rule release_inference_model:
    input:
        unpack(infer_release_inputs),
    output:
        **files(INFER_RELEASE, model="model.pt", **TRAINED),
    log:
        log_of(INFER_RELEASE),
    conda:
        "../../envs/generate.yaml"
    threads: INFER.section["threads"]
    resources:
        **training_resources(INFER, "dgex_mlp"),
    params:
        job=lambda w: INFER.release_params(w.experiment),
    script:
        "../../scripts/release_inference_model.py"


rule release_embedding:
    input:
        unpack(embed_release_inputs),
    output:
        **files(EMBED_RELEASE, model="model.pt", embedding="embedding.h5ad", **TRAINED),
    log:
        log_of(EMBED_RELEASE),
    conda:
        "../../envs/embed.yaml"
    threads: EMBED.section["threads"]
    resources:
        **training_resources(EMBED, "factorized"),
    params:
        job=lambda w: EMBED.release_params(w.experiment),
    script:
        "../../scripts/release_embedding.py"


rule embed_samples:
    input:
        unpack(embed_new_inputs),
    output:
        **files(EMBED_NEW, h5ad="embedding.h5ad", summary="summary.json"),
    log:
        log_of(EMBED_NEW),
    conda:
        "../../envs/embed.yaml"
    resources:
        **SUMMARY_RESOURCES,
    params:
        job=lambda w: EMBED.embed_new_params(w.name),
    script:
        "../../scripts/embed_samples.py"
