# Report stage: the run manifest (nf-core pipeline_info style). Its content (versions, git
# describe, device) is gathered inside the script, never in params, so it does not force reruns.


rule write_manifest:
    input:
        final_targets(),
    output:
        manifest=report_entry(
            f"{RESULTS}/pipeline_info/manifest.json",
            "manifest",
            "9. Pipeline info",
            file="run manifest",
        ),
    log:
        "logs/pipeline_info/manifest.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime="10m",
    params:
        config=config,
    script:
        "../../scripts/write_manifest.py"
