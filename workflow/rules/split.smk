# Split stage: one K-fold train / validation / test split per dataset and class label, stratified
# by the label and grouped by patient. Every model stage on a dataset reads the same split file,
# so its directory hash covers only what the split depends on (not gene sets or covariates).
# Input functions: workflow/rules/paths/split.smk.


rule split_samples:
    input:
        unpack(split_inputs),
        code=code("split_samples"),
    output:
        split=f"{RESULTS}/{{dataset}}/split-{{split_hash}}/split.tsv",
    log:
        f"{LOGS}/{{dataset}}/split-{{split_hash}}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        job=lambda w: PATHS.split_request(w.dataset, w.split_hash),
    script:
        "../../scripts/split_samples.py"
