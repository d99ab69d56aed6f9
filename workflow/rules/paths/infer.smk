# infer stage: paths, hashes, input functions and targets (its rules: workflow/rules/infer.smk).
INFER = config["infer"]
INFER_EXPERIMENTS = INFER.get("experiments", {})
INFER_STAGE_CODE = [
    "stages/infer.py",
    "experiment.py",
    "splits.py",
    "filtering.py",
    "models/__init__.py",
    "models/registry.py",
    "models/training.py",
    "models/regression.py",
]
INFER_METRICS_CODE = ["metrics/__init__.py", "metrics/regression.py"]


def infer_models(exp):
    return INFER_EXPERIMENTS[exp].get("models", INFER["models"])


def infer_settings(exp, model):
    """A model's effective settings in one experiment (global, then the experiment's)."""
    merged = dict(INFER["settings"].get(model, {}))
    merged.update(INFER_EXPERIMENTS[exp].get("settings", {}).get(model, {}))
    return merged


def infer_spec(exp):
    return {
        k: v
        for k, v in INFER_EXPERIMENTS[exp].items()
        if k not in ("settings", "models", "note", "description", "split")
    }


def infer_split(exp):
    e = INFER_EXPERIMENTS[exp]
    return split_file(
        e["dataset"], split_spec(e["dataset"], e["label"], e.get("split"))
    )


def infer_hash(exp):
    e = INFER_EXPERIMENTS[exp]
    return section_hash(
        select_hash(e["dataset"], e["landmarks"]), infer_spec(exp), infer_split(exp)
    )


def infer_dir(exp):
    return (
        f"{RESULTS}/{INFER_EXPERIMENTS[exp]['dataset']}/infer-{exp}-{infer_hash(exp)}"
    )


def learned_on(exp):
    return bool(INFER_EXPERIMENTS[exp].get("learned_landmarks", False))


def learned_hash(exp):
    return section_hash(infer_hash(exp), INFER["learned"], INFER["loop"])


def learned_dir(exp):
    return f"{infer_dir(exp)}/learned-{learned_hash(exp)}"


def infer_lmsets(exp):
    return ["landmarks"] + (["learned"] if learned_on(exp) else [])


def infer_model_hash(exp, lmset, model):
    # Learned landmarks change every model's targets (genes in neither set), so they enter the hash.
    loop = INFER["loop"] if MODELS[model].kind == "torch" else None
    learned = learned_hash(exp) if learned_on(exp) else None
    return section_hash(
        infer_hash(exp), lmset, model, infer_settings(exp, model), loop, learned
    )


def infer_model_dir(exp, lmset, model):
    return f"{infer_dir(exp)}/{lmset}/{model}-{infer_model_hash(exp, lmset, model)}"


def infer_run_folds():
    return list(range(INFER["run_folds"]))


def infer_evaluation_hash():
    return section_hash(INFER["run_folds"])


def infer_evaluation_dir(exp, lmset, model):
    return f"{infer_model_dir(exp, lmset, model)}/evaluation-{infer_evaluation_hash()}"


def infer_compare_hash(exp):
    return section_hash(
        infer_evaluation_hash(),
        [
            infer_model_hash(exp, s, m)
            for s in infer_lmsets(exp)
            for m in infer_models(exp)
        ],
        infer_models(exp),
        infer_lmsets(exp),
    )


def infer_compare_dir(exp):
    return f"{infer_dir(exp)}/compare-{infer_compare_hash(exp)}"


INFER_COMPARE_FILES = [
    "comparison.tsv",
    "comparison_table.tsv",
    "mae_scatter.png",
    "error_distribution.png",
    "training_curves.png",
    "landmark_overlap.tsv",
    "landmark_overlap.png",
]


def predict_spec(name):
    return INFER["predict"][name]


def predict_hash(name):
    spec = predict_spec(name)
    return section_hash(
        infer_model_hash(spec["experiment"], "landmarks", spec["model"]), spec
    )


def predict_dir(name):
    exp = predict_spec(name)["experiment"]
    return f"{infer_dir(exp)}/predict-{name}-{predict_hash(name)}"


def infer_targets():
    """Everything the inference experiments and predict jobs write (for the manifest)."""
    out = []
    for exp in INFER["run"]:
        out += [infer_split(exp)]
        out += [f"{infer_compare_dir(exp)}/{f}" for f in INFER_COMPARE_FILES]
        for s in infer_lmsets(exp):
            for m in infer_models(exp):
                out += [
                    f"{infer_model_dir(exp, s, m)}/fold_{k}/{f}"
                    for k in infer_run_folds()
                    for f in ("model.pt", "predictions.h5ad", "model_card.json")
                ]
                out += [
                    f"{infer_evaluation_dir(exp, s, m)}/{f}"
                    for f in ("metrics.tsv", "per_gene.tsv")
                ]
        if learned_on(exp):
            out += [
                f"{learned_dir(exp)}/fold_{k}/{f}"
                for k in infer_run_folds()
                for f in ("genes.tsv", "column_norms.tsv")
            ]
    for name in INFER["predict"]:
        if INFER["predict"][name]["experiment"] in INFER["run"]:
            out += [
                f"{predict_dir(name)}/{f}"
                for f in ("predictions.h5ad", "predictions.tsv", "summary.json")
            ]
    return out


def check_infer_experiment(wildcards):
    exp = wildcards.experiment
    if exp not in INFER_EXPERIMENTS:
        raise WorkflowError(f"no experiment '{exp}' under infer.experiments")
    check_hash(infer_hash(exp), wildcards.ehash, exp)
    return exp


def infer_data_inputs(exp):
    e = INFER_EXPERIMENTS[exp]
    return {
        "h5ad": f"{filter_dir(e['dataset'])}/filtered.h5ad",
        "landmarks": f"{select_dir(e['dataset'], e['landmarks'])}/genes.tsv",
        "split": infer_split(exp),
    }


def learn_inputs(wildcards):
    exp = check_infer_experiment(wildcards)
    if not learned_on(exp):
        raise WorkflowError(f"experiment '{exp}' does not learn landmarks")
    check_hash(learned_hash(exp), wildcards.lhash, f"{exp} learned landmarks")
    return {
        **infer_data_inputs(exp),
        "code": package_sources(*INFER_STAGE_CODE),
    }


def infer_train_inputs(wildcards):
    exp = check_infer_experiment(wildcards)
    model, lmset = wildcards.model, wildcards.lmset
    if model not in infer_models(exp) or lmset not in infer_lmsets(exp):
        raise WorkflowError(
            f"model '{model}' ({lmset}) is not run in experiment '{exp}'"
        )
    check_hash(
        infer_model_hash(exp, lmset, model), wildcards.mhash, f"{exp}/{lmset}/{model}"
    )
    inputs = {
        **infer_data_inputs(exp),
        "code": package_sources(*INFER_STAGE_CODE, *MODELS[model].code),
    }
    if learned_on(exp):
        inputs["learned"] = f"{learned_dir(exp)}/fold_{wildcards.fold}/genes.tsv"
    return inputs


def infer_evaluate_inputs(wildcards):
    exp = check_infer_experiment(wildcards)
    model, lmset = wildcards.model, wildcards.lmset
    check_hash(
        infer_model_hash(exp, lmset, model), wildcards.mhash, f"{exp}/{lmset}/{model}"
    )
    check_hash(infer_evaluation_hash(), wildcards.vhash, "evaluation")
    return {
        **infer_data_inputs(exp),
        "predictions": [
            f"{infer_model_dir(exp, lmset, model)}/fold_{k}/predictions.h5ad"
            for k in infer_run_folds()
        ],
        "code": package_sources("stages/infer.py", "splits.py", *INFER_METRICS_CODE),
    }


def infer_compare_inputs(wildcards):
    exp = check_infer_experiment(wildcards)
    check_hash(infer_compare_hash(exp), wildcards.chash, f"{exp} comparison")
    pairs = [(s, m) for s in infer_lmsets(exp) for m in infer_models(exp)]
    folds = infer_run_folds()
    inputs = {
        "landmarks": infer_data_inputs(exp)["landmarks"],
        "per_gene": [
            f"{infer_evaluation_dir(exp, s, m)}/per_gene.tsv" for s, m in pairs
        ],
        "cards": [
            f"{infer_model_dir(exp, s, m)}/fold_{k}/model_card.json"
            for s, m in pairs
            for k in folds
        ],
        "curves_cards": [
            f"{infer_model_dir(exp, s, m)}/fold_{k}/training_curve.tsv"
            for s, m in pairs
            for k in folds
        ],
        "code": package_sources(
            "stages/infer.py", "plots.py", "models/registry.py", *INFER_METRICS_CODE
        ),
    }
    if learned_on(exp):
        inputs["learned"] = [f"{learned_dir(exp)}/fold_{k}/genes.tsv" for k in folds]
        inputs["learned_curves"] = [
            f"{learned_dir(exp)}/fold_{k}/training_curve.tsv" for k in folds
        ]
    return inputs


def predict_inputs(wildcards):
    name = wildcards.name
    if name not in INFER["predict"]:
        raise WorkflowError(f"no predict job '{name}' under infer.predict")
    spec = predict_spec(name)
    check_hash(infer_hash(spec["experiment"]), wildcards.ehash, spec["experiment"])
    check_hash(predict_hash(name), wildcards.phash, f"predict {name}")
    mdir = infer_model_dir(spec["experiment"], "landmarks", spec["model"])
    return {
        "model": f"{mdir}/fold_{spec['fold']}/model.pt",
        "matrix": spec["matrix"],
        "code": package_sources(
            "stages/infer.py", "filtering.py", "models/regression.py"
        ),
    }


def infer_gpu(wildcards):
    """A GPU only for torch models that will use one (as train_gpu for the generators)."""
    model = getattr(wildcards, "model", "dgex_mlp")
    if INFER["device"] == "cpu" or not MODELS[model].gpu:
        return 0
    if INFER["device"] == "cuda":
        return 1
    import shutil

    return 1 if shutil.which("nvidia-smi") else 0
