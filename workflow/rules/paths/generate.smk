# generate stage: paths, hashes, input functions and targets (its rules: workflow/rules/generate.smk).
#
# A model's runs in one experiment: one directory per generator seed (`generate.seeds`, the first
# seed's hash is the model's plain hash), with fold_<k>/ per fold. A model with a grid
# (`generate.grid`, more than one point) trains every point in grid-<p>/fold_<k>/ and
# select_generator copies the point with the best validation score to fold_<k>/selected/.
import itertools

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
        if k
        not in ("settings", "models", "note", "description", "split", "seeds", "grid")
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
        f"{RESULTS}/{EXPERIMENTS[exp]['dataset']}/generate-{exp}-{experiment_hash(exp)}"
    )


def experiment_seeds(exp):
    """Generator seeds of an experiment: every model is trained once per seed and fold."""
    return list(EXPERIMENTS[exp].get("seeds", GENERATE.get("seeds", [0])))


def model_grid(exp, model):
    """The validation grid of a model in an experiment, as a list of {setting: value} points
    (global `generate.grid`, then the experiment's `grid`); [{}] without a grid."""
    grid = dict(GENERATE.get("grid", {}).get(model, {}))
    grid.update(EXPERIMENTS[exp].get("grid", {}).get(model, {}))
    keys = sorted(grid)
    if MODELS[model].kind == "torch":
        unknown = [k for k in keys if k not in model_settings(exp, model)]
        if unknown:
            raise WorkflowError(
                f"generate.grid.{model}: {', '.join(unknown)} not among its settings "
                f"({', '.join(sorted(model_settings(exp, model)))})"
            )
    return [
        dict(zip(keys, v)) for v in itertools.product(*(grid[k] for k in keys))
    ] or [{}]


def is_tuned(exp, model):
    return len(model_grid(exp, model)) > 1


def model_hash(exp, model, seed=None):
    # The loop settings only matter to the models trained by the shared loop; the grid and a
    # seed other than the first only enter the hash when present.
    loop = GENERATE["loop"] if MODELS[model].kind == "torch" else None
    parts = [experiment_hash(exp), model, model_settings(exp, model), loop]
    if is_tuned(exp, model):
        parts.append({"grid": model_grid(exp, model)})
    if seed is not None and seed != experiment_seeds(exp)[0]:
        parts.append({"generator_seed": seed})
    return section_hash(*parts)


def model_dir(exp, model, seed=None):
    return f"{experiment_dir(exp)}/{model}-{model_hash(exp, model, seed)}"


def final_dir(exp, model, seed, fold):
    """Where a model's synthetic.h5ad, model_card.json and training_curve.tsv for one seed and
    fold are: fold_<k>/ (trained there), or fold_<k>/selected/ (the grid point chosen on validation).
    """
    d = f"{model_dir(exp, model, seed)}/fold_{fold}"
    return f"{d}/selected" if is_tuned(exp, model) else d


def seed_of(exp, model, mhash):
    """The generator seed whose directory hash is `mhash` (a WorkflowError if none)."""
    for s in experiment_seeds(exp):
        if model_hash(exp, model, s) == mhash:
            return s
    raise WorkflowError(
        f"{exp}/{model}: directory hash {mhash} matches no seed of the current config; "
        "run the default target"
    )


def generator_seed_param(w):
    """None for the first seed (its models keep their seeds), else the seed."""
    s = seed_of(w.experiment, w.model, w.mhash)
    return None if s == experiment_seeds(w.experiment)[0] else s


def point_settings(w):
    """Settings of one grid point (rule train_grid_point)."""
    grid = model_grid(w.experiment, w.model)
    p = int(w.point)
    if not is_tuned(w.experiment, w.model) or p >= len(grid):
        raise WorkflowError(f"{w.experiment}/{w.model}: no grid point {w.point}")
    return {**model_settings(w.experiment, w.model), **grid[p]}


def evaluation_hash(exp=None, model=None):
    # the seed list enters only when it is more than the default one seed
    seeds = experiment_seeds(exp) if exp is not None else [0]
    extra = (
        [[model_hash(exp, model, s) for s in seeds]]
        if len(seeds) > 1 and model not in (None, CEILING)
        else []
    )
    return section_hash(GENERATE["evaluation"], GENERATE["run_folds"], *extra)


def compare_hash(exp):
    models = [CEILING] + experiment_models(exp)
    return section_hash(
        evaluation_hash(),
        [model_hash(exp, m) for m in models if m != CEILING],
        models,
        EXPERIMENTS[exp].get("note", ""),
        *([experiment_seeds(exp)] if len(experiment_seeds(exp)) > 1 else []),
    )


def compare_dir(exp):
    return f"{experiment_dir(exp)}/compare-{compare_hash(exp)}"


COMPARE_FILES = [
    "comparison.tsv",
    "comparison_table.tsv",
    "paired_differences.tsv",
    "within_class_distances.png",
    "prdc_utility.png",
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
            for s in experiment_seeds(exp):
                for k in run_folds():
                    out += [
                        f"{final_dir(exp, m, s, k)}/{f}"
                        for f in ("synthetic.h5ad", "model_card.json")
                    ]
                    if is_tuned(exp, m):
                        out += [
                            f"{model_dir(exp, m, s)}/grid-{p}/fold_{k}/model.pt"
                            for p in range(len(model_grid(exp, m)))
                        ]
                    else:
                        out += [f"{model_dir(exp, m, s)}/fold_{k}/model.pt"]
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
    seed_of(exp, wildcards.model, wildcards.mhash)
    if is_tuned(exp, wildcards.model) != hasattr(wildcards, "point"):
        raise WorkflowError(
            f"{exp}/{wildcards.model}: "
            + (
                "has a grid: its points train in grid-<p>/"
                if is_tuned(exp, wildcards.model)
                else "has no grid"
            )
        )
    return {**experiment_inputs(exp), "code": generator_code(wildcards.model)}


def grid_select_inputs(wildcards):
    """Every grid point of one model, seed and fold (rule select_generator)."""
    exp = check_experiment(wildcards)
    model = wildcards.model
    seed_of(exp, model, wildcards.mhash)
    if not is_tuned(exp, model):
        raise WorkflowError(f"{exp}/{model} has no grid to select from")
    base = f"{experiment_dir(exp)}/{model}-{wildcards.mhash}"
    points = range(len(model_grid(exp, model)))
    return {
        f: [f"{base}/grid-{p}/fold_{wildcards.fold}/{name}" for p in points]
        for f, name in (
            ("cards", "model_card.json"),
            ("synthetic", "synthetic.h5ad"),
            ("curves", "training_curve.tsv"),
        )
    } | {"code": package_sources("stages/generate.py")}


def evaluate_inputs(wildcards):
    exp = check_experiment(wildcards)
    model = wildcards.model
    if model == CEILING:
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
        check_hash(evaluation_hash(exp, model), wildcards.vhash, "evaluation")
        # ordered seed-major: evaluate_stage pairs them with evaluation_runs()
        inputs["synthetic"] = [
            f"{final_dir(exp, model, s, k)}/synthetic.h5ad"
            for s in experiment_seeds(exp)
            for k in run_folds()
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
    return f"{mdir}/evaluation-{evaluation_hash(exp, model)}/metrics.tsv"


def evaluation_runs(exp, model):
    """(seed, fold) of each synthetic input of evaluate_generator, in order."""
    seeds = experiment_seeds(exp)[:1] if model == CEILING else experiment_seeds(exp)
    return [[s, k] for s in seeds for k in run_folds()]


def compare_inputs(wildcards):
    exp = check_experiment(wildcards)
    check_hash(compare_hash(exp), wildcards.chash, f"{exp} comparison")
    models = experiment_models(exp)
    return {
        **experiment_inputs(exp),
        "metrics": [evaluation_file(exp, m) for m in [CEILING] + models],
        "synthetic": [f"{final_dir(exp, m, None, 0)}/synthetic.h5ad" for m in models],
        "curves": [f"{final_dir(exp, m, None, 0)}/training_curve.tsv" for m in models],
        "cards": [
            f"{final_dir(exp, m, s, k)}/model_card.json"
            for m in models
            for s in experiment_seeds(exp)
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
