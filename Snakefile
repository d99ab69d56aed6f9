# gexflow: deep learning on cancer transcriptomes, one Snakemake DAG.
# Stages live in workflow/rules/*.smk (rules) and workflow/rules/paths/*.smk (their paths, input
# functions and targets; the linter keeps rules and functions apart); the library they call is
# src/gexflow, whose stage modules (src/gexflow/stages/) are the only code the rule scripts call.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# One global block: names that become paths, registry model names, 8-hex-digit stage hashes.
HASH = "[0-9a-f]{8}"


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_-]*",
    selection="[A-Za-z0-9_]+",
    experiment="[A-Za-z0-9_]+",
    model="|".join(MODELS),
    source="xena|gdc|gtex|cgga|geo",
    fold="[0-9]+",
    point="[0-9]+",
    dhash=HASH,
    rhash=HASH,
    fhash=HASH,
    ghash=HASH,
    shash=HASH,
    splithash=HASH,
    ehash=HASH,
    mhash=HASH,
    vhash=HASH,
    chash=HASH,


include: "workflow/rules/paths/download.smk"
include: "workflow/rules/paths/filter.smk"
include: "workflow/rules/paths/deg.smk"
include: "workflow/rules/paths/select.smk"
include: "workflow/rules/paths/split.smk"
include: "workflow/rules/paths/generate.smk"
include: "workflow/rules/paths/infer.smk"
include: "workflow/rules/paths/embed.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/filter.smk"
include: "workflow/rules/deg.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
        f"{RESULTS}/pipeline_info/manifest.json",
