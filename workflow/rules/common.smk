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
    spec = dict(SELECT_SETS[name])
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
        for name in SELECT_SETS:
            targets += [
                f"{select_dir(ds, name)}/{f}" for f in ("genes.tsv", "coverage.tsv")
            ]
    return targets
