# DEG stage: Wilcoxon signed-rank (paired) / rank-sum (unpaired), per-gene exact p-values,
# Bonferroni or BH (statsmodels), fold change on the linear scale, volcano plot.
# Paths, input functions and targets: workflow/rules/paths/deg.smk.


rule call_degs:
    input:
        unpack(deg_inputs),
    output:
        table=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{ghash}}/degs.tsv",
            "degs",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            file="DEG table",
        ),
        summary=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{ghash}}/summary.tsv",
            "deg_summary",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            file="DEG summary",
        ),
        volcano=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{ghash}}/volcano.png",
            "volcano",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            figure="volcano plot",
        ),
    log:
        "logs/{dataset}/deg-{ghash}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/deg-{{ghash}}.tsv"
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        dataset=lambda w: DATASETS[w.dataset],
        deg=lambda w: deg_settings(w.dataset),
    script:
        "../../scripts/call_degs.py"
