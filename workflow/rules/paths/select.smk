# select stage: input functions and targets (its rules: workflow/rules/select.smk; directories and
# hashes: gexflow.paths).
def select_targets():
    targets = []
    for ds in config["select"]["datasets"]:
        for name, spec in PATHS.sets.items():
            if ds in spec.get("datasets", [ds]):
                targets += [
                    f"{PATHS.select_dir(ds, name)}/{f}"
                    for f in ("genes.tsv", "coverage.tsv")
                ]
    return targets


def select_inputs(wildcards):
    ds, name = wildcards.dataset, wildcards.selection
    check_hash(PATHS.select_hash(ds, name), wildcards.select_hash, f"{ds}/{name}")
    spec = PATHS.select_spec(name, ds)
    method = spec["method"]
    if method == "deg":
        return {"degs": f"{PATHS.deg_dir(ds)}/degs.tsv"}
    if method in ("union", "intersection"):
        return {
            "parts": [f"{PATHS.select_dir(ds, part)}/genes.tsv" for part in spec["of"]]
        }
    inputs = {"h5ad": f"{PATHS.filter_dir(ds)}/filtered.h5ad"}
    if method == "kegg":
        inputs["kegg"] = f"{PATHS.references_dir()}/kegg_pathways.tsv"
    elif method == "l1000":
        inputs["l1000"] = f"{PATHS.references_dir()}/l1000_landmarks.tsv"
    else:  # gmt, list: the user's file
        inputs["file"] = spec["file"]
    return inputs
