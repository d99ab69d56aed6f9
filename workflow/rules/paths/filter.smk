# filter stage: paths, hashes, input functions and targets (its rules: workflow/rules/filter.smk).
def filter_targets():
    return [
        f"{filter_dir(ds)}/{f}"
        for ds in RUN_DATASETS
        for f in ("filtered.h5ad", "filter_qc.png", "id_mapping.tsv")
    ]


def filter_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(filter_hash(ds), wildcards.fhash, ds)
    inputs = {
        "code": package_sources(
            "stages/filter.py", "filtering.py", "identifiers.py", "plots.py"
        ),
        "entrez_map": config["references"]["entrez_map"],
    }
    if DATASETS[ds]["kind"] == "single_cell":
        inputs["matrix"] = f"{download_dir(ds)}/matrix.h5ad"
    else:
        inputs["expression"] = f"{download_dir(ds)}/expression.tsv.gz"
        inputs["samples"] = f"{download_dir(ds)}/samples.tsv"
    if "probe_annotation" in DATASETS[ds]:
        inputs["probe_annotation"] = DATASETS[ds]["probe_annotation"]["file"]
    return inputs
