# DEG stage: the contrast's group a vs group b, Wilcoxon signed-rank (paired) / rank-sum (unpaired),
# per-gene exact p-values, Bonferroni or BH (statsmodels), fold change on the linear scale, volcano
# plot; the samples used and unused by reason, the p-value floor warning, DESeq2's NA genes counted.
# Input functions and targets: workflow/rules/paths/deg.smk.


rule call_degs:
    input:
        unpack(deg_inputs),
        code=code("call_degs"),
    output:
        table=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{deg_hash}}/degs.tsv",
            "degs",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            file="DEG table",
        ),
        summary=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{deg_hash}}/summary.tsv",
            "deg_summary",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            file="DEG summary",
        ),
        volcano=report_entry(
            f"{RESULTS}/{{dataset}}/deg-{{deg_hash}}/volcano.png",
            "volcano",
            "2. DEGs",
            "{dataset}",
            dataset="{dataset}",
            figure="volcano plot",
        ),
    log:
        f"{LOGS}/{{dataset}}/deg-{{deg_hash}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/deg-{{deg_hash}}.tsv"
    conda:
        "../../envs/deg.yaml"
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        job=lambda w: PATHS.deg_params(w.dataset),
    script:
        "../../scripts/call_degs.py"
