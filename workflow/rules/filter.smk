# Filter / normalise stage: every dataset brought to log2(x + 1) of a normalised value, lowly
# expressed genes dropped (bulk), scanpy QC (single-cell). Output: AnnData, samples x genes.
# Paths, input functions and targets: workflow/rules/paths/filter.smk.


rule filter_normalise:
    input:
        unpack(filter_inputs),
    output:
        h5ad=f"{RESULTS}/{{dataset}}/filter-{{fhash}}/filtered.h5ad",
        steps=f"{RESULTS}/{{dataset}}/filter-{{fhash}}/filter_steps.tsv",
        ids=report_entry(
            f"{RESULTS}/{{dataset}}/filter-{{fhash}}/id_mapping.tsv",
            "id_mapping",
            "1. Data",
            "{dataset}",
            dataset="{dataset}",
            file="gene id mapping",
        ),
        qc=report_entry(
            f"{RESULTS}/{{dataset}}/filter-{{fhash}}/filter_qc.png",
            "filter_qc",
            "1. Data",
            "{dataset}",
            dataset="{dataset}",
            figure="filter QC",
        ),
    log:
        "logs/{dataset}/filter-{fhash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/filter-{{fhash}}.tsv"
    conda:
        "../../envs/filter.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        dataset=lambda w: filter_spec(w.dataset),
        filter=lambda w: effective_filter(w.dataset),
    script:
        "../../scripts/filter_normalise.py"
