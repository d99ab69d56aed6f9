# deg stage: input functions and targets (its rules: workflow/rules/deg.smk; directories and
# hashes: gexflow.paths).
def deg_targets():
    return [
        f"{PATHS.deg_dir(ds)}/{f}"
        for ds in config["deg"]["datasets"]
        for f in ("degs.tsv", "summary.tsv", "volcano.png")
    ]


def deg_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(PATHS.deg_hash(ds), wildcards.deg_hash, ds)
    return {"h5ad": f"{PATHS.filter_dir(ds)}/filtered.h5ad"}
