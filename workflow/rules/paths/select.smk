# select stage: paths, hashes, input functions and targets (its rules: workflow/rules/select.smk).
def select_targets():
    targets = []
    for ds in config["select"]["datasets"]:
        for name, spec in SELECT_SETS.items():
            if ds in spec.get("datasets", [ds]):
                targets += [
                    f"{select_dir(ds, name)}/{f}" for f in ("genes.tsv", "coverage.tsv")
                ]
    return targets


def select_inputs(wildcards):
    ds, name = wildcards.dataset, wildcards.selection
    if name not in SELECT_SETS:
        raise WorkflowError(f"no gene set '{name}' under `select.sets`")
    check_hash(select_hash(ds, name), wildcards.shash, f"{ds}/{name}")
    method = SELECT_SETS[name]["method"]
    inputs = {"code": package_sources("stages/select.py", "selection.py")}
    if method == "kegg":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["kegg"] = f"{references_dir()}/kegg_pathways.tsv"
    elif method == "l1000":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["l1000"] = f"{references_dir()}/l1000_landmarks.tsv"
    elif method == "deg":
        inputs["degs"] = f"{deg_dir(ds)}/degs.tsv"
    elif method == "gmt":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["gmt"] = SELECT_SETS[name]["file"]
    elif method == "list":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["file"] = SELECT_SETS[name]["file"]
    else:
        parts = SELECT_SETS[name]["of"]
        inputs["parts"] = [f"{select_dir(ds, part)}/genes.tsv" for part in parts]
    return inputs
