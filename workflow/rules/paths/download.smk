# download stage: input functions and targets (its rules: workflow/rules/download.smk; directories
# and hashes: gexflow.paths).
def references_targets():
    return [
        f"{PATHS.references_dir()}/kegg_pathways.tsv",
        f"{PATHS.references_dir()}/l1000_landmarks.tsv",
    ]


def embedded_inputs(wildcards):
    """A shipped (or the user's local) dataset's files and the SHA256SUMS that lists them."""
    d = PATHS.dataset(wildcards.dataset)
    check_hash(
        PATHS.download_hash(wildcards.dataset),
        wildcards.download_hash,
        wildcards.dataset,
    )
    inputs = {"matrix": d["matrix"], "sums": checksum_file(d["matrix"])}
    if d.get("samples"):
        inputs["samples"] = d["samples"]
    return inputs


def download_inputs(wildcards):
    """A remote source's local file (a GEO SOFT the user has) is an input: editing it reruns."""
    d = PATHS.dataset(wildcards.dataset)
    check_hash(
        PATHS.download_hash(wildcards.dataset),
        wildcards.download_hash,
        wildcards.dataset,
    )
    soft = d.get("soft", "")
    return {"soft": soft} if d["source"] == "geo" and "://" not in soft else {}


def dataset_job(wildcards):
    """The params of a dataset's staging or download job: what its directory hash covers."""
    return PATHS.download_params(wildcards.dataset)


def references_job(wildcards):
    check_hash(PATHS.references_hash(), wildcards.references_hash, "references")
    return PATHS.references_params()
