# generate stage: paths, hashes, input functions and targets (its rules: workflow/rules/generate.smk).
GENERATE = config["generate"]
EXPERIMENTS = GENERATE.get("experiments", {})
GENERATE_STAGE_CODE = [
    "stages/generate.py",
    "experiment.py",
    "splits.py",
    "filtering.py",
    "metrics/__init__.py",
    "metrics/synthetic.py",
    "models/__init__.py",
    "models/registry.py",
    "models/covariates.py",
    "models/training.py",
]


def experiment_models(exp):
    return EXPERIMENTS[exp].get("models", GENERATE["models"])


def model_settings(exp, model):
    """A model's effective hyper-parameters in one experiment (global, then the experiment's)."""
    merged = dict(GENERATE.get("settings", {}).get(model, {}))
    merged.update(EXPERIMENTS[exp].get("settings", {}).get(model, {}))
    return merged


def experiment_spec(exp):
    return {
        k: v
        for k, v in EXPERIMENTS[exp].items()
        if k not in ("settings", "models", "note", "description", "split")
    }


def experiment_split(exp):
    e = EXPERIMENTS[exp]
    return split_file(
        e["dataset"], split_spec(e["dataset"], e["label"], e.get("split"))
    )


def experiment_hash(exp):
    e = EXPERIMENTS[exp]
    return section_hash(
        select_hash(e["dataset"], e["genes"]),
        experiment_spec(exp),
        experiment_split(exp),
    )


def experiment_dir(exp):
    return (
        f"results/{EXPERIMENTS[exp]['dataset']}/generate-{exp}-{experiment_hash(exp)}"
    )


def model_hash(exp, model):
    # The loop settings only matter to the models trained by the shared loop.
    loop = GENERATE["loop"] if MODELS[model].kind == "torch" else None
    return section_hash(experiment_hash(exp), model, model_settings(exp, model), loop)


def model_dir(exp, model):
    return f"{experiment_dir(exp)}/{model}-{model_hash(exp, model)}"


def evaluation_hash():
    return section_hash(GENERATE["evaluation"], GENERATE["run_folds"])


def compare_hash(exp):
    models = [CEILING] + experiment_models(exp)
    return section_hash(
        evaluation_hash(),
        [model_hash(exp, m) for m in models if m != CEILING],
        models,
        EXPERIMENTS[exp].get("note", ""),
    )


def compare_dir(exp):
    return f"{experiment_dir(exp)}/compare-{compare_hash(exp)}"


COMPARE_FILES = [
    "comparison.tsv",
    "comparison_table.tsv",
    "distance_matrices.png",
    "distributions.png",
    "pca.png",
    "training_curves.png",
]


def run_folds():
    return list(range(GENERATE["run_folds"]))


def generate_targets():
    """Everything the experiments write, so the manifest records its sha256."""
    out = []
    for exp in GENERATE["run"]:
        out += [experiment_split(exp)]
        out += [f"{compare_dir(exp)}/{f}" for f in COMPARE_FILES]
        for m in experiment_models(exp):
            for k in run_folds():
                out += [
                    f"{model_dir(exp, m)}/fold_{k}/{f}"
                    for f in ("model.pt", "synthetic.h5ad", "model_card.json")
                ]
        out += [evaluation_file(exp, m) for m in [CEILING] + experiment_models(exp)]
    return out


def experiment_inputs(exp):
    e = EXPERIMENTS[exp]
    return {
        "h5ad": f"{filter_dir(e['dataset'])}/filtered.h5ad",
        "genes": f"{select_dir(e['dataset'], e['genes'])}/genes.tsv",
        "split": experiment_split(exp),
    }


def check_experiment(wildcards):
    exp = wildcards.experiment
    if exp not in EXPERIMENTS:
        raise WorkflowError(f"no experiment '{exp}' under generate.experiments")
    check_hash(experiment_hash(exp), wildcards.ehash, exp)
    return exp


def generator_code(model):
    return package_sources(*GENERATE_STAGE_CODE, *MODELS[model].code)


def train_inputs(wildcards):
    exp = check_experiment(wildcards)
    if wildcards.model not in experiment_models(exp):
        raise WorkflowError(
            f"model '{wildcards.model}' is not run in experiment '{exp}'"
        )
    check_hash(
        model_hash(exp, wildcards.model), wildcards.mhash, f"{exp}/{wildcards.model}"
    )
    return {**experiment_inputs(exp), "code": generator_code(wildcards.model)}


def evaluate_inputs(wildcards):
    exp = check_experiment(wildcards)
    model = wildcards.model
    check_hash(evaluation_hash(), wildcards.vhash, "evaluation")
    inputs = {
        **experiment_inputs(exp),
        "code": package_sources(
            "stages/generate.py",
            "experiment.py",
            "splits.py",
            "metrics/__init__.py",
            "metrics/synthetic.py",
            "deg.py",
        ),
    }
    if model != CEILING:
        check_hash(model_hash(exp, model), wildcards.mhash, f"{exp}/{model}")
        inputs["synthetic"] = [
            f"{model_dir(exp, model)}/fold_{k}/synthetic.h5ad" for k in run_folds()
        ]
    else:
        check_hash(
            section_hash(experiment_hash(exp), CEILING), wildcards.mhash, CEILING
        )
    return inputs


def evaluation_file(exp, model):
    mdir = (
        model_dir(exp, model)
        if model != CEILING
        else f"{experiment_dir(exp)}/{CEILING}-{section_hash(experiment_hash(exp), CEILING)}"
    )
    return f"{mdir}/evaluation-{evaluation_hash()}/metrics.tsv"


def compare_inputs(wildcards):
    exp = check_experiment(wildcards)
    check_hash(compare_hash(exp), wildcards.chash, f"{exp} comparison")
    models = experiment_models(exp)
    return {
        **experiment_inputs(exp),
        "metrics": [evaluation_file(exp, m) for m in [CEILING] + models],
        "synthetic": [f"{model_dir(exp, m)}/fold_0/synthetic.h5ad" for m in models],
        "curves": [f"{model_dir(exp, m)}/fold_0/training_curve.tsv" for m in models],
        "cards": [
            f"{model_dir(exp, m)}/fold_{k}/model_card.json"
            for m in models
            for k in run_folds()
        ],
        "code": package_sources(
            "stages/generate.py",
            "experiment.py",
            "splits.py",
            "metrics/__init__.py",
            "metrics/synthetic.py",
            "models/registry.py",
            "plots.py",
        ),
    }


def train_gpu(wildcards):
    """Ask the scheduler for a GPU only where one will be used (a CPU-only workstation would
    otherwise run one training job at a time under the profile's gpu cap)."""
    if GENERATE["device"] == "cpu" or not MODELS[wildcards.model].gpu:
        return 0
    if GENERATE["device"] == "cuda":
        return 1
    import shutil

    return 1 if shutil.which("nvidia-smi") else 0
