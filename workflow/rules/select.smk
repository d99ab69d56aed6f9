# Gene selection stage: KEGG pathway genes, DEGs, L1000 landmarks, unions and intersections,
# each mapped onto one dataset's gene ids, with a coverage report.


rule select_genes:
    input:
        unpack(select_inputs),
    output:
        genes=report(
            "results/{dataset}/select-{selection}-{shash}/genes.tsv",
            caption="../report/select_genes.rst",
            category="3. Gene selection",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "selection": "{selection}",
                "file": "gene list",
            },
        ),
        coverage=report(
            "results/{dataset}/select-{selection}-{shash}/coverage.tsv",
            caption="../report/select_coverage.rst",
            category="3. Gene selection",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "selection": "{selection}",
                "file": "coverage",
            },
        ),
    log:
        "logs/{dataset}/select-{selection}-{shash}.log",
    wildcard_constraints:
        selection="[A-Za-z0-9_]+",
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=2000,
        runtime="10m",
    params:
        spec=lambda w: select_spec(w.selection),
    script:
        "../../scripts/select_genes.py"
