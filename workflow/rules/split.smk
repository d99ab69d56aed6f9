# Split stage: one K-fold train / validation / test split per dataset and class label, stratified
# by the label and grouped by patient. Every model stage on a dataset reads the same split file,
# so its directory hash covers only what the split depends on (not gene sets or covariates).
# Paths, input functions and targets: workflow/rules/paths/split.smk.


rule split_samples:
    input:
        unpack(split_inputs),
    output:
        split=f"{RESULTS}/{{dataset}}/split-{{splithash}}/split.tsv",
    log:
        "logs/{dataset}/split-{splithash}.log",
    conda:
        "../../envs/generate.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        label=lambda w: SPLIT_SPECS[(w.dataset, w.splithash)]["label"],
        patient_column=lambda w: SPLIT_SPECS[(w.dataset, w.splithash)]["patient_column"],
        folds=lambda w: SPLIT_SPECS[(w.dataset, w.splithash)]["folds"],
        val_fraction=lambda w: SPLIT_SPECS[(w.dataset, w.splithash)]["val_fraction"],
        seed=config["seed"],
    script:
        "../../scripts/split_samples.py"
