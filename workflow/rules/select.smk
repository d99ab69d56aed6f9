# Gene selection stage: KEGG pathway genes, DEGs, L1000 landmarks, unions and intersections,
# each mapped onto one dataset's gene ids, with a coverage report.
# Paths, input functions and targets: workflow/rules/paths/select.smk.


rule select_genes:
    input:
        unpack(select_inputs),
    output:
        genes=report_entry(
            f"{RESULTS}/{{dataset}}/select-{{selection}}-{{shash}}/genes.tsv",
            "select_genes",
            "3. Gene selection",
            "{dataset}",
            dataset="{dataset}",
            selection="{selection}",
            file="gene list",
        ),
        coverage=report_entry(
            f"{RESULTS}/{{dataset}}/select-{{selection}}-{{shash}}/coverage.tsv",
            "select_coverage",
            "3. Gene selection",
            "{dataset}",
            dataset="{dataset}",
            selection="{selection}",
            file="coverage",
        ),
    log:
        "logs/{dataset}/select-{selection}-{shash}.log",
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        spec=lambda w: select_spec(w.selection, w.dataset),
    script:
        "../../scripts/select_genes.py"
