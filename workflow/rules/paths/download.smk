# download stage: paths, hashes, input functions and targets (its rules: workflow/rules/download.smk).
def references_targets():
    return [
        f"{references_dir()}/kegg_pathways.tsv",
        f"{references_dir()}/l1000_landmarks.tsv",
    ]


def download_inputs(wildcards):
    """A remote source's local file (a GEO SOFT the user has) is an input: editing it reruns."""
    d = DATASETS[wildcards.dataset]
    soft = d.get("soft", "")
    return {"soft": soft} if d["source"] == "geo" and "://" not in soft else {}
