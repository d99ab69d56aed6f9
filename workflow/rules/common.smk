# Shared helpers: config checks, the hashes that version each stage's directory, and the
# target list. Only light imports here: every snakemake call, a no-op rerun included, runs this.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# Lets `--sdm conda` runs (gexflow not pip-installed in the base env) import the library.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from gexflow.config import check_config, check_datasets, section_hash
from gexflow.errors import InputError

CONFIG_NAME = ", ".join(str(f) for f in workflow.configfiles) or "config"
try:
    validate(config, "../schemas/config.schema.yaml")  # also fills in schema defaults
except WorkflowError:
    # Only on failure: turn jsonschema's multi-line dump into one line naming field and fix.
    try:
        check_config(
            config,
            Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
            CONFIG_NAME,
        )
    except InputError as e:
        raise WorkflowError(str(e)) from None
    raise
try:
    check_datasets(config, CONFIG_NAME)
except InputError as e:
    raise WorkflowError(str(e)) from None

DATASETS = config["datasets"]
RUN_DATASETS = config["run"]["datasets"]
REMOTE_URL_KEYS = {
    "embedded": [],
    "xena": ["xena_expression", "xena_clinical"],
    "gdc": ["gdc_data"],
    "gtex": ["gtex_gct", "gtex_attributes"],
    "cgga": ["cgga_expression", "cgga_clinical"],
}
SOURCE_KEYS = [
    "kind",
    "source",
    "matrix",
    "samples",
    "cohort",
    "gdc_file_id",
    "tissues",
]


def source_urls(ds):
    """The concrete URLs a remote dataset downloads, with {cohort}/{file_id} filled in."""
    d = DATASETS[ds]
    fill = {"cohort": d.get("cohort", ""), "file_id": d.get("gdc_file_id", "")}
    return [
        config["download"]["urls"][k].format(**fill)
        for k in REMOTE_URL_KEYS[d["source"]]
    ]


def kegg_urls():
    """KEGG REST: pathway ids + names, then every human pathway's Entrez members."""
    base = config["download"]["urls"]["kegg_rest"].rstrip("/")
    return [
        f"{base}/{endpoint}" for endpoint in ("list/pathway/hsa", "link/hsa/pathway")
    ]


def download_hash(ds):
    d = DATASETS[ds]
    urls = source_urls(ds)
    sums = {u: config["download"]["checksums"].get(u) for u in urls}
    return section_hash({k: d.get(k) for k in SOURCE_KEYS}, urls, sums)


def download_dir(ds):
    return f"results/{ds}/download-{DATASETS[ds]['source']}-{download_hash(ds)}"


def effective_filter(ds):
    """The filter settings a dataset uses: single-cell QC keys, or bulk keys with overrides."""
    f = config["filter"]
    if DATASETS[ds]["kind"] == "single_cell":
        return dict(f["single_cell"])
    bulk = {k: f[k] for k in ("min_expression", "min_fraction", "min_library_size")}
    bulk.update(DATASETS[ds].get("filter", {}))
    return bulk


def filter_hash(ds):
    return section_hash(download_hash(ds), DATASETS[ds], effective_filter(ds))


def filter_dir(ds):
    return f"results/{ds}/filter-{filter_hash(ds)}"


def references_hash():
    r = config["references"]
    if r["source"] == "embedded":
        return section_hash(r)
    u = config["download"]["urls"]
    return section_hash(
        r["source"], r["entrez_map"], u["kegg_rest"], u["l1000_gene_info"]
    )


def references_dir():
    return f"results/references/download-{config['references']['source']}-{references_hash()}"


def check_hash(expected, got, what):
    """Return the stage hash; refuse to (re)build a directory whose hash is not the config's.

    Outputs are only valid for the settings their hash names: a stale hash requested by path
    would otherwise be rebuilt with the current settings under the old name.
    """
    if expected != got:
        raise WorkflowError(
            f"{what}: requested hash {got} does not match the current config ({expected}); "
            "old stage directories are kept as they were, request the current targets instead"
        )
    return expected


def checksum_file(path):
    """The SHA256SUMS nearest above a shipped file (resources/ or tests/data/), or none."""
    for parent in Path(path).parents:
        if (parent / "SHA256SUMS").exists():
            return str(parent / "SHA256SUMS")
    return []


def dataset_config(wildcards):
    return DATASETS[wildcards.dataset]


def filter_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(filter_hash(ds), wildcards.fhash, ds)
    inputs = {"code": package_sources("filtering.py", "plots.py")}
    if DATASETS[ds]["kind"] == "single_cell":
        inputs["matrix"] = f"{download_dir(ds)}/matrix.h5ad"
    else:
        inputs["expression"] = f"{download_dir(ds)}/expression.tsv.gz"
        inputs["samples"] = f"{download_dir(ds)}/samples.tsv"
        inputs["entrez_map"] = config["references"]["entrez_map"]
    return inputs


def package_sources(*modules):
    """Library files a rule's results depend on: editing them reruns the rule."""
    return [f"src/gexflow/{m}" for m in ("__init__.py", "errors.py", "io.py", *modules)]


def deg_settings():
    # `datasets` only says where to run; it must not change the DEG directory's hash.
    return {k: v for k, v in config["deg"].items() if k != "datasets"}


def deg_hash(ds):
    return section_hash(filter_hash(ds), deg_settings())


def deg_dir(ds):
    return f"results/{ds}/deg-{deg_hash(ds)}"


def deg_inputs(wildcards):
    ds = wildcards.dataset
    check_hash(deg_hash(ds), wildcards.ghash, ds)
    return {
        "h5ad": f"{filter_dir(ds)}/filtered.h5ad",
        "code": package_sources("deg.py", "plots.py"),
    }


SELECT_SETS = config["select"]["sets"]


def select_spec(name):
    """A set's settings as the selection step sees them (DEG sets carry the correction used)."""
    spec = {k: v for k, v in SELECT_SETS[name].items() if k != "datasets"}
    if spec["method"] == "deg":
        spec["correction"] = config["deg"]["correction"]
    return spec


def select_hash(ds, name):
    spec = SELECT_SETS[name]
    method = spec["method"]
    if method in ("kegg", "l1000"):
        upstream = [filter_hash(ds), references_hash()]
    elif method == "deg":
        upstream = [deg_hash(ds)]
    else:
        upstream = [select_hash(ds, part) for part in spec["of"]]
    return section_hash(upstream, select_spec(name))


def select_dir(ds, name):
    return f"results/{ds}/select-{name}-{select_hash(ds, name)}"


def select_inputs(wildcards):
    ds, name = wildcards.dataset, wildcards.selection
    if name not in SELECT_SETS:
        raise WorkflowError(f"no gene set '{name}' under `select.sets`")
    check_hash(select_hash(ds, name), wildcards.shash, f"{ds}/{name}")
    method = SELECT_SETS[name]["method"]
    inputs = {"code": package_sources("selection.py")}
    if method == "kegg":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["kegg"] = f"{references_dir()}/kegg_pathways.tsv"
    elif method == "l1000":
        inputs["h5ad"] = f"{filter_dir(ds)}/filtered.h5ad"
        inputs["l1000"] = f"{references_dir()}/l1000_landmarks.tsv"
    elif method == "deg":
        inputs["degs"] = f"{deg_dir(ds)}/degs.tsv"
    else:
        parts = SELECT_SETS[name]["of"]
        inputs["parts"] = [f"{select_dir(ds, part)}/genes.tsv" for part in parts]
    return inputs


def final_targets():
    targets = [
        f"{references_dir()}/kegg_pathways.tsv",
        f"{references_dir()}/l1000_landmarks.tsv",
    ]
    for ds in RUN_DATASETS:
        targets += [f"{filter_dir(ds)}/{f}" for f in ("filtered.h5ad", "filter_qc.png")]
    for ds in config["deg"]["datasets"]:
        targets += [
            f"{deg_dir(ds)}/{f}" for f in ("degs.tsv", "summary.tsv", "volcano.png")
        ]
    for ds in config["select"]["datasets"]:
        for name, spec in SELECT_SETS.items():
            if ds not in spec.get("datasets", [ds]):
                continue
            targets += [
                f"{select_dir(ds, name)}/{f}" for f in ("genes.tsv", "coverage.tsv")
            ]
    for exp in GENERATE["run"]:
        targets += experiment_outputs(exp)
    return targets


# --- generators (workflow/rules/generate.smk) -------------------------------------------------
GENERATE = config["generate"]
EXPERIMENTS = GENERATE.get("experiments", {})
TORCH_MODELS = ["wgan_gp", "cvae"]
CEILING = "real_train"  # the real training split, scored like a model: the ceiling row


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
        if k not in ("settings", "models", "note", "description")
    }


def experiment_hash(exp):
    e = EXPERIMENTS[exp]
    return section_hash(
        filter_hash(e["dataset"]),
        select_hash(e["dataset"], e["genes"]),
        experiment_spec(exp),
        GENERATE["folds"],
        GENERATE["val_fraction"],
        config["seed"],
    )


def experiment_dir(exp):
    return (
        f"results/{EXPERIMENTS[exp]['dataset']}/generate-{exp}-{experiment_hash(exp)}"
    )


def model_hash(exp, model):
    # The loop settings only matter to the models trained by the shared loop.
    loop = GENERATE["loop"] if model in TORCH_MODELS else None
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


def compare_outputs(exp):
    return [f"{compare_dir(exp)}/{f}" for f in COMPARE_FILES]


def experiment_outputs(exp):
    """Everything an experiment writes, so the manifest records its sha256."""
    out = [f"{experiment_dir(exp)}/split.tsv", *compare_outputs(exp)]
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
        "split": f"{experiment_dir(exp)}/split.tsv",
    }


def check_experiment(wildcards):
    exp = wildcards.experiment
    if exp not in EXPERIMENTS:
        raise WorkflowError(f"no experiment '{exp}' under generate.experiments")
    check_hash(experiment_hash(exp), wildcards.ehash, exp)
    return exp


def split_inputs(wildcards):
    exp = check_experiment(wildcards)
    return {
        "h5ad": experiment_inputs(exp)["h5ad"],
        "code": package_sources("generation.py", "splits.py"),
    }


GENERATOR_CODE = {
    "wgan_gp": ["models/wgan_gp.py"],
    "cvae": ["models/wgan_gp.py", "models/cvae.py"],
}


def generator_code(model):
    extra = GENERATOR_CODE.get(model, ["models/peers.py"])
    return package_sources(
        "generation.py",
        "filtering.py",
        "metrics.py",
        "models/__init__.py",
        "models/covariates.py",
        "models/training.py",
        *extra,
    )


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


def run_folds():
    return list(range(GENERATE["run_folds"]))


def evaluate_inputs(wildcards):
    exp = check_experiment(wildcards)
    model = wildcards.model
    check_hash(evaluation_hash(), wildcards.vhash, "evaluation")
    inputs = {
        **experiment_inputs(exp),
        "code": package_sources("generation.py", "metrics.py", "deg.py"),
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
        "code": package_sources("generation.py", "metrics.py", "plots.py"),
    }


def train_gpu(wildcards):
    """Ask the scheduler for a GPU only where one will be used (a CPU-only workstation would
    otherwise run one training job at a time under the profile's gpu cap)."""
    if GENERATE["device"] == "cpu" or wildcards.model in ("gaussian", "shuffled"):
        return 0
    if GENERATE["device"] == "cuda":
        return 1
    import shutil

    return 1 if shutil.which("nvidia-smi") else 0
