# gexflow: deep learning on cancer transcriptomes, one Snakemake DAG.
# Stages live in workflow/rules/*.smk (rules) and workflow/rules/paths/*.smk (their paths, input
# functions and targets; the linter keeps rules and functions apart); the library they call is
# src/gexflow, whose stage modules (src/gexflow/stages/) are the only code the rule scripts call.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# One global block: names that become paths, registry model names, and the 8-hex-digit hashes
# that name stage directories (each wildcard says what it hashes).
HASH = "[0-9a-f]{8}"


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_-]*",
    selection="[A-Za-z0-9_]+",
    experiment="[A-Za-z0-9_]+",
    name="[A-Za-z0-9_]+",
    model="|".join(MODELS),
    source="xena|gdc|gtex|cgga|geo",
    lmset="landmarks|learned",
    fold="[0-9]+",
    point="[0-9]+",
    size="[0-9]+",
    download_hash=HASH,
    references_hash=HASH,
    filter_hash=HASH,
    deg_hash=HASH,
    select_hash=HASH,
    split_hash=HASH,
    experiment_hash=HASH,
    model_hash=HASH,
    evaluation_hash=HASH,
    compare_hash=HASH,
    learned_hash=HASH,
    predict_hash=HASH,
    report_hash=HASH,
    impute_hash=HASH,
    release_hash=HASH,
    cohort_hash=HASH,


include: "workflow/rules/paths/download.smk"
include: "workflow/rules/paths/filter.smk"
include: "workflow/rules/paths/deg.smk"
include: "workflow/rules/paths/select.smk"
include: "workflow/rules/paths/split.smk"
include: "workflow/rules/paths/generate.smk"
include: "workflow/rules/paths/infer.smk"
include: "workflow/rules/paths/embed.smk"
include: "workflow/rules/paths/release.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/filter.smk"
include: "workflow/rules/deg.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
        f"{RESULTS}/pipeline_info/manifest.json",
