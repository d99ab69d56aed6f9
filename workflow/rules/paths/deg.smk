# deg stage: paths, hashes, input functions and targets (its rules: workflow/rules/deg.smk).
def deg_targets():
    return [
        f"{deg_dir(ds)}/{f}"
        for ds in config["deg"]["datasets"]
        for f in ("degs.tsv", "summary.tsv", "volcano.png")
    ]


def deg_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(deg_hash(ds), wildcards.ghash, ds)
    return {
        "h5ad": f"{filter_dir(ds)}/filtered.h5ad",
        "code": package_sources("stages/deg.py", "deg.py", "plots.py"),
    }
