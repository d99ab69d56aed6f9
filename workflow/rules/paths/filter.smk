# filter stage: paths, hashes, input functions and targets (its rules: workflow/rules/filter.smk).
def filter_targets():
    return [
        f"{filter_dir(ds)}/{f}"
        for ds in RUN_DATASETS
        for f in ("filtered.h5ad", "filter_qc.png")
    ]


def filter_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(filter_hash(ds), wildcards.fhash, ds)
    inputs = {"code": package_sources("stages/filter.py", "filtering.py", "plots.py")}
    if DATASETS[ds]["kind"] == "single_cell":
        inputs["matrix"] = f"{download_dir(ds)}/matrix.h5ad"
    else:
        inputs["expression"] = f"{download_dir(ds)}/expression.tsv.gz"
        inputs["samples"] = f"{download_dir(ds)}/samples.tsv"
        inputs["entrez_map"] = config["references"]["entrez_map"]
    return inputs
