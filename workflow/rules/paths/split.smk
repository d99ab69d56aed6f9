# split stage: input functions (its rules: workflow/rules/split.smk; directories, hashes and which
# splits the running experiments read: gexflow.paths). Targets come from the model stages.
def split_inputs(wildcards):
    PATHS.split_request(wildcards.dataset, wildcards.split_hash)
    return {"h5ad": f"{PATHS.filter_dir(wildcards.dataset)}/filtered.h5ad"}
