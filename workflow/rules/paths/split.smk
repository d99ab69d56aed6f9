# split stage: paths, hashes, input functions and targets (its rules: workflow/rules/split.smk).
SPLIT = config["split"]
SPLIT_SPECS = (
    {}
)  # (dataset, split hash) -> spec; each model stage registers the splits it reads


def split_spec(dataset, label, overrides=None):
    """What a split depends on besides the filtered data and the seed: the `split` section, then
    the dataset's `split`, then the experiment's."""
    merged = {**SPLIT, **DATASETS[dataset].get("split", {}), **(overrides or {})}
    return {
        "label": [label] if isinstance(label, str) else list(label),
        "patient_column": DATASETS[dataset].get("patient_column"),
        "folds": merged["folds"],
        "val_fraction": merged["val_fraction"],
    }


def split_hash(dataset, spec):
    return section_hash(filter_hash(dataset), spec, config["seed"])


def split_file(dataset, spec):
    """The split file of `spec` on `dataset`; registers it for the split_samples rule."""
    h = split_hash(dataset, spec)
    SPLIT_SPECS[(dataset, h)] = spec
    return f"{RESULTS}/{dataset}/split-{h}/split.tsv"


def split_inputs(wildcards):
    key = (wildcards.dataset, wildcards.splithash)
    if key not in SPLIT_SPECS:
        raise WorkflowError(
            f"split {wildcards.splithash} of {wildcards.dataset} is not used by any experiment of the current "
            "config; request the current targets instead"
        )
    return {
        "h5ad": f"{filter_dir(wildcards.dataset)}/filtered.h5ad",
        "code": package_sources("stages/split.py", "splits.py", "experiment.py"),
    }
