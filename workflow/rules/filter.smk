# Filter / normalise stage: every dataset brought to log2(x + 1) of a normalised value, lowly
# expressed genes dropped (bulk), scanpy QC (single-cell). Output: AnnData, samples x genes.
# Input functions and targets: workflow/rules/paths/filter.smk.


rule filter_normalise:
    input:
        unpack(filter_inputs),
        code=code("filter_normalise"),
    output:
        h5ad=f"{RESULTS}/{{dataset}}/filter-{{filter_hash}}/filtered.h5ad",
        steps=f"{RESULTS}/{{dataset}}/filter-{{filter_hash}}/filter_steps.tsv",
        ids=report_entry(
            f"{RESULTS}/{{dataset}}/filter-{{filter_hash}}/id_mapping.tsv",
            "id_mapping",
            "1. Data",
            "{dataset}",
            dataset="{dataset}",
            file="gene id mapping",
        ),
        qc=report_entry(
            f"{RESULTS}/{{dataset}}/filter-{{filter_hash}}/filter_qc.png",
            "filter_qc",
            "1. Data",
            "{dataset}",
            dataset="{dataset}",
            figure="filter QC",
        ),
    log:
        f"{LOGS}/{{dataset}}/filter-{{filter_hash}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/filter-{{filter_hash}}.tsv"
    conda:
        "../../envs/filter.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        job=lambda w: PATHS.filter_params(w.dataset),
    script:
        "../../scripts/filter_normalise.py"
