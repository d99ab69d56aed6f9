# Shared helpers: config checks, the hash chain that versions the data stages' directories
# (download -> filter -> DEG -> selection; model stages hash over it), the report-entry helper,
# and the target list gathered from each stage's *_targets().
# Each stage's own paths, input functions and targets live in its .smk file. Only light imports
# here: every snakemake call, a no-op rerun included, runs this.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# Lets `--sdm conda` runs (gexflow not pip-installed in the base env) import the library.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from gexflow.config import check_config, check_datasets, section_hash
from gexflow.errors import InputError
from gexflow.models.registry import CEILING, MODELS

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

# Where every stage writes (its logs go to logs/ beside it, run-independent caches to .cache/).
RESULTS = str(Path(config["results_dir"]))  # normalised: no trailing separator
DATASETS = config["datasets"]
RUN_DATASETS = config["run"]["datasets"]
REMOTE_URL_KEYS = {
    "embedded": [],
    "xena": ["xena_expression", "xena_clinical"],
    "gdc": ["gdc_data"],
    "gtex": ["gtex_gct", "gtex_attributes"],
    "cgga": ["cgga_expression", "cgga_clinical"],
    "geo": [],  # the dataset's own `soft`: a local path or a URL
}
SOURCE_KEYS = [
    "kind",
    "source",
    "matrix",
    "samples",
    "cohort",
    "gdc_file_id",
    "tissues",
    "soft",
]


def source_urls(ds):
    """The concrete URLs a remote dataset downloads, with {cohort}/{file_id} filled in."""
    d = DATASETS[ds]
    if d["source"] == "geo":
        return [d["soft"]]
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


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def path_part(name, field):
    """A config name used as a directory: checked again here (the schema checks it first), so
    no name can lead a path outside the results directory and logs/."""
    if not SAFE_NAME.fullmatch(str(name)):
        raise WorkflowError(
            f"{CONFIG_NAME}: field '{field}': '{name}' cannot be part of a path. "
            "Fix: use letters, digits, '_' and '-' (starting with a letter or digit)"
        )
    return name


def download_dir(ds):
    path_part(ds, "datasets")
    return f"{RESULTS}/{ds}/download-{DATASETS[ds]['source']}-{download_hash(ds)}"


def effective_filter(ds):
    """The filter settings a dataset uses: single-cell QC keys, or bulk keys with overrides."""
    f = config["filter"]
    if DATASETS[ds]["kind"] == "single_cell":
        return dict(f["single_cell"])
    bulk = {k: f[k] for k in ("min_expression", "min_fraction", "min_library_size")}
    bulk.update(DATASETS[ds].get("filter", {}))
    return bulk


def filter_spec(ds):
    """What the filter reads of a dataset entry: all but its DEG and split overrides and its
    description, so such a setting of one dataset reruns neither its filter nor anything of
    another dataset. Sorted: reordering keys in a config file is no change (Snakemake compares
    params as text)."""
    skip = ("deg", "split", "description")
    return {k: v for k, v in sorted(DATASETS[ds].items()) if k not in skip}


def filter_hash(ds):
    return section_hash(download_hash(ds), filter_spec(ds), effective_filter(ds))


def filter_dir(ds):
    path_part(ds, "datasets")
    return f"{RESULTS}/{ds}/filter-{filter_hash(ds)}"


def references_hash():
    r = config["references"]
    if r["source"] == "embedded":
        return section_hash(r)
    u = config["download"]["urls"]
    return section_hash(
        r["source"], r["entrez_map"], u["kegg_rest"], u["l1000_gene_info"]
    )


def references_dir():
    return f"{RESULTS}/references/download-{config['references']['source']}-{references_hash()}"


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


def package_sources(*modules):
    """Library files a rule's results depend on: editing them reruns the rule."""
    return [f"src/gexflow/{m}" for m in ("__init__.py", "errors.py", "io.py", *modules)]


def deg_settings(ds):
    """The DEG settings of one dataset: the `deg` section with the dataset's `deg` overrides.
    `datasets` only says where to run; it must not change the DEG directory's hash."""
    merged = {k: v for k, v in config["deg"].items() if k != "datasets"}
    merged.update(DATASETS[ds].get("deg", {}))
    return merged


def deg_hash(ds):
    return section_hash(filter_hash(ds), deg_settings(ds))


def deg_dir(ds):
    path_part(ds, "datasets")
    return f"{RESULTS}/{ds}/deg-{deg_hash(ds)}"


SELECT_SETS = config["select"]["sets"]


def select_spec(name, ds):
    """A set's settings as the selection step sees them (DEG sets carry the dataset's correction)."""
    spec = {k: v for k, v in SELECT_SETS[name].items() if k != "datasets"}
    if spec["method"] == "deg":
        spec["correction"] = deg_settings(ds)["correction"]
    return spec


def select_hash(ds, name):
    spec = SELECT_SETS[name]
    method = spec["method"]
    if method in ("kegg", "l1000"):
        upstream = [filter_hash(ds), references_hash()]
    elif method == "deg":
        upstream = [deg_hash(ds)]
    elif (
        method == "gmt"
    ):  # the file's content is an input: an edit reruns the selection
        upstream = [filter_hash(ds)]
    else:
        upstream = [select_hash(ds, part) for part in spec["of"]]
    return section_hash(upstream, select_spec(name, ds))


def select_dir(ds, name):
    path_part(ds, "datasets")
    path_part(name, "select.sets")
    return f"{RESULTS}/{ds}/select-{name}-{select_hash(ds, name)}"


def report_entry(path, caption, category, subcategory=None, **labels):
    """A report() output: caption file under workflow/report/, labels as keyword arguments."""
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
        labels=labels,
    )


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
    ]
    return list(dict.fromkeys(targets))  # experiments on one dataset share its split
