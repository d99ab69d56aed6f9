# gexflow: deep learning on cancer transcriptomes, one Snakemake DAG.
# Stages live in workflow/rules/*.smk; the library they call is src/gexflow.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/filter.smk"
include: "workflow/rules/deg.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
        "results/pipeline_info/manifest.json",
