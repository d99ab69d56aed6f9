# Report stage: the run manifest (nf-core pipeline_info style). Its content (the resolved config,
# versions, git describe, device) is gathered inside the job, never in params: it reruns when the
# outputs it lists change, not when a setting that changes no output does.


rule write_manifest:
    input:
        outputs=final_targets(),
        code=code("write_manifest"),
    output:
        manifest=report_entry(
            f"{RESULTS}/pipeline_info/manifest.json",
            "manifest",
            "9. Pipeline info",
            file="run manifest",
        ),
    log:
        f"{LOGS}/pipeline_info/manifest.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime="10m",
    script:
        "../../scripts/write_manifest.py"
