# Gene selection stage: KEGG pathway genes, DEGs, L1000 landmarks, unions and intersections,
# each mapped onto one dataset's gene ids, with a coverage report.
# Input functions and targets: workflow/rules/paths/select.smk.


rule select_genes:
    input:
        unpack(select_inputs),
        code=code("select_genes"),
    output:
        genes=report_entry(
            f"{RESULTS}/{{dataset}}/select-{{selection}}-{{select_hash}}/genes.tsv",
            "select_genes",
            "3. Gene selection",
            "{dataset}",
            dataset="{dataset}",
            selection="{selection}",
            file="gene list",
        ),
        coverage=report_entry(
            f"{RESULTS}/{{dataset}}/select-{{selection}}-{{select_hash}}/coverage.tsv",
            "select_coverage",
            "3. Gene selection",
            "{dataset}",
            dataset="{dataset}",
            selection="{selection}",
            file="coverage",
        ),
    log:
        f"{LOGS}/{{dataset}}/select-{{selection}}-{{select_hash}}.log",
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        job=lambda w: {"spec": PATHS.select_spec(w.selection, w.dataset)},
    script:
        "../../scripts/select_genes.py"
