# filter stage: input functions and targets (its rules: workflow/rules/filter.smk; directories and
# hashes: gexflow.paths).
def filter_targets():
    return [
        f"{PATHS.filter_dir(ds)}/{f}"
        for ds in config["run"]["datasets"]
        for f in ("filtered.h5ad", "filter_qc.png", "id_mapping.tsv")
    ]


def filter_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(PATHS.filter_hash(ds), wildcards.filter_hash, ds)
    d = PATHS.dataset(ds)
    inputs = {"entrez_map": config["references"]["entrez_map"]}
    if d["kind"] == "single_cell":
        inputs["matrix"] = f"{PATHS.download_dir(ds)}/matrix.h5ad"
    else:
        inputs["expression"] = f"{PATHS.download_dir(ds)}/expression.tsv.gz"
        inputs["samples"] = f"{PATHS.download_dir(ds)}/samples.tsv"
    if "probe_annotation" in d:
        inputs["probe_annotation"] = d["probe_annotation"]["file"]
    return inputs
