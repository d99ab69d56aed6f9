# Shared: the config checks, the one `Paths` object every stage's paths file reads (directories,
# hashes and job params come from gexflow.paths), code inputs computed from the imports
# (gexflow.code_inputs), the report-entry helper and the target list.
# Only light imports here: every snakemake call, a no-op rerun included, runs this.
import sys
import warnings
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# Snakemake's default disk_mb (from input.size_mb) cannot be awaited while `--report` builds its
# DAG; Snakemake falls back to a placeholder and Python warns once per job. Nothing is lost.
warnings.filterwarnings(
    "ignore",
    message="coroutine 'InputFiles._predicated_size_files",
    category=RuntimeWarning,
)
warnings.filterwarnings("ignore", message="Enable tracemalloc", category=RuntimeWarning)
# Lets `--sdm conda` runs (gexflow not pip-installed in the base env) import the library.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from gexflow.code_inputs import rule_code
from gexflow.config import (
    check_config_files,
    merge_order,
    name_origin,
    scope_user_config,
    validate_config,
)
from gexflow.errors import InputError
from gexflow.models.registry import CEILING, MODELS, factory_module
from gexflow.paths import Paths, check_dir, check_hash

# The config files whose values are in force: with --replace-workflow-config the workflow's own
# config/config.yaml is read but discarded, so errors name only the user's files.
CONFIG_FILES = [
    str(f)
    for f in workflow.configfiles
    if not (
        workflow.config_settings.replace_workflow_config
        and workflow.overwrite_configfiles
        and str(f) == "config/config.yaml"
    )
]
CONFIG_NAME = ", ".join(CONFIG_FILES) or "config"
# Every file parses and has no duplicate key (PyYAML would keep the last silently); then the
# schema's defaults are filled and every cross-field and per-model check runs.
try:
    check_config_files(CONFIG_FILES)
    for note in scope_user_config(config, CONFIG_FILES):
        logger.info(f"gexflow: {note}")
    validate_config(config, CONFIG_NAME)
except InputError as e:
    raise WorkflowError(str(name_origin(e, merge_order(CONFIG_FILES)))) from None

PATHS = Paths(config, CONFIG_NAME)
# Where every stage writes, and its logs (logs/ for results/, else <results_dir>/logs);
# run-independent caches go to .cache/.
RESULTS = PATHS.results
LOGS = PATHS.logs
DATASETS = config["datasets"]
GENERATE, INFER, EMBED = PATHS.generate, PATHS.infer, PATHS.embed
SCRIPTS = Path(workflow.basedir) / "scripts"


def code(rule_name, *models):
    """A rule's library-code inputs: the import closure of its script's stage entry point (and of
    the models' classes, for training rules). Editing one of them reruns the rule."""
    extra = tuple(sorted({factory_module(m) for m in models if factory_module(m)}))
    return rule_code(SCRIPTS / f"{rule_name}.py", extra)


def checksum_file(path):
    """The SHA256SUMS nearest above a shipped file (resources/ or tests/data/), or none."""
    for parent in Path(path).parents:
        if (parent / "SHA256SUMS").exists():
            return str(parent / "SHA256SUMS")
    return []


def report_entry(path, caption, category, subcategory=None, **labels):
    """A report() output: caption file under workflow/report/, labels as keyword arguments."""
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
        labels=labels,
    )


def files(directory, **names):
    """A job's named output files in one directory: {name: f"{directory}/{file}"}."""
    return {k: f"{directory}/{v}" for k, v in names.items()}


def log_of(directory):
    """The log of the job writing `directory` (a results path pattern): the same path under LOGS."""
    return f"{LOGS}/{Path(directory).relative_to(RESULTS)}.log"


def benchmark_of(directory):
    return f"{RESULTS}/benchmarks/{Path(directory).relative_to(RESULTS)}.tsv"


def report_files(directory, category, outputs, **labels):
    """Report outputs of one job: {name: (file, caption, label)} in `directory`, one subcategory
    per experiment."""
    return {
        name: report_entry(
            f"{directory}/{file}",
            caption,
            category,
            "{experiment}",
            experiment="{experiment}",
            file=label,
            **labels,
        )
        for name, (file, caption, label) in outputs.items()
    }


# The outputs every training job writes (the training job of gexflow.models.training).
TRAINED = {"curve": "training_curve.tsv", "card": "model_card.json"}


def training_resources(stage, model=None):
    """A training job's resources: a GPU only where that model will use one (gexflow.paths)."""
    return {
        "mem_mb": 4000,
        "runtime": "2h",
        "gpu": lambda w: stage.gpu(model or w.model),
    }


SUMMARY_RESOURCES = {
    "mem_mb": 4000,
    "runtime": "20m",
}  # evaluations, comparisons, reports


def final_targets():
    """What the default target builds: every stage's *_targets() (workflow/rules/paths/)."""
    targets = [
        *references_targets(),
        *filter_targets(),
        *deg_targets(),
        *select_targets(),
        *generate_targets(),
        *infer_targets(),
        *embed_targets(),
        *release_targets(),
    ]
    return list(dict.fromkeys(targets))  # experiments on one dataset share its split
