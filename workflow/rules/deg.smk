# DEG stage: Wilcoxon signed-rank (paired) / rank-sum (unpaired), per-gene exact p-values,
# Bonferroni or BH (statsmodels), fold change on the linear scale, volcano plot.


rule call_degs:
    input:
        unpack(deg_inputs),
    output:
        table=report(
            "results/{dataset}/deg-{ghash}/degs.tsv",
            caption="../report/degs.rst",
            category="2. DEGs",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "file": "DEG table"},
        ),
        summary=report(
            "results/{dataset}/deg-{ghash}/summary.tsv",
            caption="../report/deg_summary.rst",
            category="2. DEGs",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "file": "DEG summary"},
        ),
        volcano=report(
            "results/{dataset}/deg-{ghash}/volcano.png",
            caption="../report/volcano.rst",
            category="2. DEGs",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "volcano plot"},
        ),
    log:
        "logs/{dataset}/deg-{ghash}.log",
    benchmark:
        "results/benchmarks/{dataset}/deg-{ghash}.tsv"
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        dataset=lambda w: DATASETS[w.dataset],
        deg=deg_settings(),
    script:
        "../../scripts/call_degs.py"
