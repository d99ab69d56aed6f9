# download stage: paths, hashes, input functions and targets (its rules: workflow/rules/download.smk).
def references_targets():
    return [
        f"{references_dir()}/kegg_pathways.tsv",
        f"{references_dir()}/l1000_landmarks.tsv",
    ]
