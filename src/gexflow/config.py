"""The config layer: reading and merging config files, the schema with its defaults, the
cross-field and per-model checks, the effective values the rules use (split, model settings,
grids), and the short hashes that name versioned stage directories.

Imported by the Snakefile at parse time: keep it free of heavy imports (PyYAML and jsonschema are
imported where they are needed, never numpy, pandas or torch).

`python -m gexflow.config FILE [FILE...]` (`make check-config`) runs every check a run makes
before its first job: each file parses and has no duplicate key, the files merge as Snakemake
merges them, the schema (with its defaults), then the checks below.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from gexflow.errors import InputError
from gexflow.models import settings as model_settings_table
from gexflow.models.registry import MODELS, trainable

DEFAULT_CONFIG = "config/config.yaml"  # the workflow's own configfile

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# results_dir may not lie in (or be) any of these, relative to the working directory or the repository
PROTECTED_DIRS = ("resources", "src", "workflow", "config", "scripts", "tests", ".git")


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def section_hash(*parts, length: int = 8) -> str:
    """Short, stable hash of config sections: same settings -> same directory name."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:length]


# ------------------------------------------------------------------------------ reading files
def _loader():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_text(path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, "(whole file)", f"cannot be read ({type(e).__name__}: {e})",
                         "give the path of a readable UTF-8 YAML file") from None


def _parse(path, text: str):
    """The YAML document of `text` (libyaml when present); a syntax error names file, line and
    column, in the words of PyYAML's own parser (which names the offending character)."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(whole file)"
        raise InputError(path, where, f"not valid YAML: {e.problem or e.context}",
                         "fix the syntax there (indent with spaces, not tabs; close every bracket and quote)") from None
    except yaml.YAMLError as e:
        raise InputError(path, "(whole file)", f"not valid YAML: {e}", "fix the YAML syntax") from None


def load_yaml(path) -> dict:
    """A YAML config file as a dict; a syntax error names the file, line and column (Snakemake's own
    message names neither)."""
    data = _parse(path, _read_text(path))
    if not isinstance(data, dict):
        raise InputError(path, "(top level)", "is not a mapping of config keys",
                         "start from config/config.yaml or config/own_data.yaml")
    return data


def _check_duplicate_keys(path, text: str) -> None:
    """PyYAML keeps the last of two equal keys of a mapping without a word: refuse them, at any level."""
    import yaml

    root = yaml.compose(text, Loader=_loader())
    seen: set[int] = set()

    def walk(node, trail: list[str]) -> None:
        if node is None or id(node) in seen:  # an alias revisits its anchor's node
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key, value in node.value:
                scalar = isinstance(key, yaml.ScalarNode)
                name = str(key.value) if scalar else "?"
                if scalar and key.tag != "tag:yaml.org,2002:merge":
                    ident = (key.tag, key.value)
                    mark = key.start_mark
                    if ident in first:
                        before = first[ident]
                        at = (f"line {before.line + 1} and again at line {mark.line + 1}" if before.line != mark.line
                              else f"line {mark.line + 1}, columns {before.column + 1} and {mark.column + 1}")
                        raise InputError(path, ".".join(trail + [name]),
                                         f"set twice, at {at} (YAML would silently keep only the second)",
                                         "remove one of the two, or merge them into one entry")
                    first[ident] = mark
                walk(value, trail + [name])
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, trail[:-1] + [f"{trail[-1]}[{i}]"] if trail else [f"[{i}]"])

    walk(root, [])


def check_config_files(paths: list[str]) -> None:
    """Each config file reads, parses (an error names file, line and column) and is a mapping with
    no key given twice at any level (an error names the file, the key path and both lines)."""
    for path in paths:
        text = _read_text(path)
        data = _parse(path, text)
        if not isinstance(data, dict):
            raise InputError(path, "(top level)", "is not a mapping of config keys",
                             "start from config/config.yaml or config/own_data.yaml")
        _check_duplicate_keys(path, text)


def merge_config(config: dict, overwrite: dict) -> dict:
    """Update `config` in place with `overwrite` as Snakemake's update_config does: a mapping
    updates the mapping under the same key key by key (recursively; an empty mapping changes
    nothing), any other value (a list, a scalar, null) replaces what was there."""

    def update(d, u):
        for key, value in u.items():
            if not isinstance(d, Mapping):
                d = {}
            if isinstance(value, Mapping):
                d[key] = update(d.get(key, {}), value)
            else:
                d[key] = value
        return d

    update(config, overwrite)
    return config


def load_config(paths: list[str]) -> dict:
    """The config of a run with these files, merged as Snakemake merges them: the first plays the
    workflow's `configfile:` (config/config.yaml), the others the `--configfile`s, merged over it
    in order (see merge_config). One file alone is a `--replace-workflow-config` run."""
    datas = [copy.deepcopy(load_yaml(p)) for p in paths]
    if not datas:
        return {}
    overwrite: dict = {}
    for d in datas[1:]:
        merge_config(overwrite, d)
    return merge_config(datas[0], overwrite)


def merge_order(files, default: str = DEFAULT_CONFIG) -> list[str]:
    """Config files in the order they merge (load_config, name_origin): the workflow's own
    `configfile:` first, then the others as given. Snakemake's `workflow.configfiles` lists the
    `--configfile`s first and the workflow's file last."""
    files = [str(f) for f in files]
    return [f for f in files if f == default] + [f for f in files if f != default]


def scope_user_config(config: dict, files, default: str = DEFAULT_CONFIG) -> list[str]:
    """What a user's config (a file merged over config/config.yaml, `make run CONFIG=my.yaml`)
    inherits from the default, in place, before validation. Returns one note per change.

    Only when the user's files name their datasets (`run.datasets`: a cohort of their own; a file
    that only changes settings keeps the default's results and jobs):
    - `results_dir`, unless some file (or --config) sets it, is `results-<name of the last user
      file>`: two cohorts run one after the other keep both results, reports, manifests and logs.
    - The default config's datasets and experiments do not run beside the user's: `deg.datasets`,
      `select.datasets` and each model stage's `run` that no user file sets keep only entries on
      the user's datasets, and a gene set only the default defines applies only to the default's
      own `select.datasets` (an experiment that asks for it by name still gets it).
    Nothing changes for the default config alone or with --replace-workflow-config."""
    files = [str(f) for f in files]
    user = [f for f in merge_order(files, default) if f != default]
    if not user or default not in files:
        return []
    datas = [load_yaml(f) for f in user]

    def user_sets(*parts) -> bool:
        return any(_has_path(d, list(parts)) for d in datas)

    if not user_sets("run", "datasets") or not isinstance(config.get("run"), dict):
        return []  # settings over the default's own datasets: its results/ and its jobs
    notes = []
    if "results_dir" not in config:
        config["results_dir"] = f"results-{_stem(user[-1])}"
        notes.append(f"results_dir: {config['results_dir']} (named after {user[-1]}; set results_dir to choose)")
    ours = set(config["run"].get("datasets") or [])
    for section in ("deg", "select"):
        sec = config.get(section)
        if isinstance(sec, dict) and not user_sets(section, "datasets") and sec.get("datasets"):
            kept = [d for d in sec["datasets"] if d in ours]
            if kept != sec["datasets"]:
                notes.append(f"{section}.datasets: {kept} (the default's {sec['datasets']} are not yours)")
                sec["datasets"] = kept
    default_select = (load_yaml(default).get("select") or {}).get("datasets") or []
    for name, spec in ((config.get("select") or {}).get("sets") or {}).items():
        if isinstance(spec, dict) and not user_sets("select", "sets", name):
            scoped = [d for d in spec.get("datasets", default_select) if d in default_select]
            if scoped != spec.get("datasets"):
                spec["datasets"] = scoped
                notes.append(f"select.sets.{name}: only on {scoped or 'no dataset'} (a default set; "
                             f"list it under select.sets in your file to use it on yours)")
    for stage in ("generate", "infer", "embed"):
        sec = config.get(stage)
        if not isinstance(sec, dict) or user_sets(stage, "run"):
            continue
        exps = sec.get("experiments") or {}
        kept = [e for e in sec.get("run") or [] if (exps.get(e) or {}).get("dataset") in ours]
        if kept != (sec.get("run") or []):
            notes.append(f"{stage}.run: {kept} (the default's experiments are on its datasets)")
            sec["run"] = kept
    return notes


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".yaml", ".yml", ".json"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "config"


def _has_path(data, parts: list[str]) -> bool:
    for p in parts:
        if not isinstance(data, dict) or p not in data:
            return False
        data = data[p]
    return True


def name_origin(error: InputError, paths: list[str]) -> InputError:
    """The same error naming the one file of `paths` (in merge order, see merge_order) that set
    its field: the last file holding that key path. Unchanged when no single file can be told (a
    missing key, a value combined from several entries) or when the error names a file already
    (it is not the list `", ".join(paths)`, in any order)."""
    if len(paths) < 2 or sorted(error.file.split(", ")) != sorted(map(str, paths)):
        return error
    parts = error.field.split(".")
    for path in reversed(paths):
        try:
            data = load_yaml(path)
        except InputError:
            return error
        if _has_path(data, parts):
            return InputError(path, error.field, error.problem, error.fix)
    return error


# ------------------------------------------------------------------------------------ schema
@functools.lru_cache(maxsize=4)
def _schema(schema_path: str) -> dict:
    import yaml

    return yaml.load(Path(schema_path).read_text(encoding="utf-8"), Loader=_loader())


def _validator(schema: dict, fill_defaults: bool):
    """A Draft 2020-12 validator; with `fill_defaults`, one that sets each missing property that
    has a `default` while it validates: snakemake.utils.validate(..., set_default=True) (the
    defaults are copied, so no two config entries share one list)."""
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator
    if not fill_defaults:
        return base(schema)
    properties = base.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, subschema)

    return validators.extend(base, {"properties": set_defaults})(schema)


def _settings_block(path: list) -> tuple[list, str] | None:
    """(config path of the model settings block, its SETTINGS name) that a schema error lies in."""
    table = model_settings_table.SETTINGS
    if len(path) >= 3 and path[0] in ("generate", "infer") and path[1] == "settings" and path[2] in table:
        return path[:3], path[2]
    if path[:2] == ["infer", "learned"]:
        return path[:2], "learned"
    if path[:2] == ["embed", "settings"]:
        return path[:2], "factorized"
    return None


def _schema_error(err, config: dict, config_file: str) -> InputError:
    """One jsonschema error as an InputError: field path, problem, fix. In a model's settings
    block the model's own check words it (closest valid name, expected type)."""
    path = list(err.absolute_path)
    block = _settings_block(path)
    if block is not None:
        where, model = block
        values = config
        for p in where:
            values = values[p]
        try:
            model_settings_table.check_settings(model, values, ".".join(map(str, where)), config_file)
        except InputError as e:
            return e
    field = ".".join(str(p) for p in path) or "(top level)"
    hint = err.schema.get("description", "") if isinstance(err.schema, dict) else ""
    problem = err.message
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        field = f"{field}.{missing}" if field != "(top level)" else missing
        fix = f"add '{missing}' (see config/README.md and config/config.yaml for its meaning and default)"
    elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known] or ["?"]
        key = str(extra[0])
        field = f"{field}.{key}" if field != "(top level)" else key
        problem = f"unknown key '{key}'"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        fix = (f"did you mean '{close[0]}'? " if close else "remove it or correct its name; ") + \
            f"valid keys here: {', '.join(known)}"
    else:
        if err.validator == "type":  # the value as YAML writes it (null, true), not as Python does
            shown = model_settings_table.yaml_text(err.instance)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            problem = f"{shown} is not of type {' or '.join(repr(t) for t in types)}"
        fix = f"set a valid value{': ' + hint if hint else ''} (see config/README.md)"
    return InputError(config_file, field, problem, fix)


def _first_error(validator, config):
    errors = sorted(validator.iter_errors(config),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    return errors[0] if errors else None


def check_config(config: dict, schema_path, config_file: str = "config") -> None:
    """Validate `config` against the JSON schema (defaults not filled in); raise InputError naming
    the first bad field.

    The Snakefile's `validate()` runs first (and fills defaults); on failure this pass turns
    jsonschema's multi-line dump into one message with the field path and a fix.
    """
    err = _first_error(_validator(_schema(str(schema_path)), fill_defaults=False), config)
    if err is not None:
        raise _schema_error(err, config, config_file)


def validate_config(config: dict, config_file: str, schema_path=SCHEMA) -> dict:
    """Fill in the schema's defaults (in place, as the Snakefile's validate() does), stop at the
    first schema error (one line), then run every cross-field and per-model check
    (check_datasets). Returns `config`."""
    err = _first_error(_validator(_schema(str(schema_path)), fill_defaults=True), config)
    if err is not None:
        raise _schema_error(err, config, config_file)
    check_datasets(config, config_file)
    sort_keys(config)
    return config


def sort_keys(node) -> None:
    """Order every mapping of the config by key, in place. Snakemake records a job's params as
    text and reruns the job when that text changes, so without this a user who only reorders keys
    in their YAML (or a file written by yaml.safe_dump) would rerun every job whose params hold a
    mapping. No gexflow result depends on the order of a mapping (grids are sorted too)."""
    if isinstance(node, dict):
        items = sorted(node.items(), key=lambda kv: str(kv[0]))
        node.clear()
        node.update(items)
        for value in node.values():
            sort_keys(value)
    elif isinstance(node, list):
        for value in node:
            sort_keys(value)


# -------------------------------------------------------------------------- effective values
def effective_split(config: dict, stage: str, exp: dict) -> dict:
    """{"folds", "val_fraction"} of an experiment of `stage`: the `split` section, then its
    dataset's `split`, then its own `split` (the rules' split_spec merges the same way)."""
    if exp["dataset"] not in config["datasets"]:
        raise KeyError(f"{stage} experiment on '{exp['dataset']}', which is not a key of `datasets`")
    merged = {**config["split"], **(config["datasets"][exp["dataset"]].get("split") or {}),
              **(exp.get("split") or {})}
    return {"folds": merged["folds"], "val_fraction": merged["val_fraction"]}


def split_field(config: dict, stage: str, name: str, exp: dict, key: str = "folds") -> str:
    """The config key that sets an experiment's split `key`: its own, its dataset's or the section's."""
    if key in (exp.get("split") or {}):
        return f"{stage}.experiments.{name}.split.{key}"
    if key in (config["datasets"][exp["dataset"]].get("split") or {}):
        return f"datasets.{exp['dataset']}.split.{key}"
    return f"split.{key}"


def _defaults(model: str) -> dict:
    """Defaults gexflow fills in: every setting's, but none of a library's keywords (ctgan, tvae:
    only the keywords given are passed, the library's defaults apply to the rest)."""
    return {} if model_settings_table.library(model) else model_settings_table.defaults(model)


def model_settings(config: dict, stage: str, exp: dict, model: str) -> dict:
    """A model's effective settings in one experiment: its defaults, the global block
    (`<stage>.settings.<model>`, schema defaults filled) and the experiment's `settings.<model>`.
    For `embed` the model is the factorized embedding: `embed.settings`, then the experiment's
    `settings`."""
    if stage == "embed":
        model = "factorized"
        base, over = config["embed"].get("settings") or {}, exp.get("settings") or {}
    else:
        base = (config[stage].get("settings") or {}).get(model) or {}
        over = (exp.get("settings") or {}).get(model) or {}
    return {**_defaults(model), **base, **over}


def learned_settings(config: dict) -> dict:
    """The learned-landmark group-lasso MLP's settings: its defaults, then `infer.learned`."""
    return {**_defaults("learned"), **(config["infer"].get("learned") or {})}


def model_grid(config: dict, exp: dict, model: str) -> list[dict]:
    """The validation grid of a generate model in an experiment as a list of {setting: value}
    points (`generate.grid.<model>`, then the experiment's `grid.<model>`; keys sorted, every
    combination); [{}] without a grid."""
    grid = dict((config["generate"].get("grid") or {}).get(model) or {})
    grid.update((exp.get("grid") or {}).get(model) or {})
    keys = sorted(grid)
    return [dict(zip(keys, v)) for v in itertools.product(*(grid[k] for k in keys))] or [{}]


# ------------------------------------------------------------------------------------ checks
def _closest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def check_datasets(config: dict, config_file: str = "config") -> None:
    """Every check JSON schema cannot express, on a config whose schema defaults are filled in
    (validate_config, or the Snakefile's validate()): datasets, gene sets, results_dir, each
    model stage's running experiments (split, labels, models, every settings block and grid
    point against the model's own settings, the comparison baseline)."""
    datasets = config["datasets"]
    for name in config["run"]["datasets"]:
        if name not in datasets:
            raise InputError(config_file, "run.datasets", f"'{name}' is not a key of `datasets`",
                             f"use one of: {', '.join(datasets)}")
    _check_results_dir(config, config_file)
    for stage in ("deg", "select"):
        for name in config[stage]["datasets"]:
            if name not in datasets:
                raise InputError(config_file, f"{stage}.datasets", f"'{name}' is not a key of `datasets`",
                                 f"use one of: {', '.join(datasets)}")
            if datasets[name]["kind"] != "bulk":
                raise InputError(config_file, f"{stage}.datasets", f"'{name}' is single-cell",
                                 "DEG calling and gene selection run on bulk datasets; remove it from the list")
            ds_deg = {**config["deg"], **datasets[name].get("deg", {})}
            if stage == "deg" and not datasets[name].get("condition_column") and not ds_deg.get("contrast"):
                raise InputError(config_file, f"datasets.{name}.condition_column", "required for DEG calling",
                                 "name the sample sheet column holding the tumour/normal labels, or set "
                                 f"datasets.{name}.deg.contrast: {{column: ..., groups: [a, b]}}")
            if stage == "deg" and ds_deg.get("method") == "deseq2" and datasets[name]["scale"] != "counts":
                raise InputError(config_file, f"datasets.{name}.deg.method", "deseq2 needs raw counts, but the "
                                 f"dataset has `scale: {datasets[name]['scale']}`",
                                 "use `method: welch` (log data) or `wilcoxon`, or give the raw count matrix")
    _check_select_sets(config["select"]["sets"], config_file)
    _check_set_contents(config, config_file)
    _check_global_settings(config, config_file)
    _check_generate(config, config_file)
    _check_infer(config, config_file)
    _check_embed(config, config_file)
    _check_releases(config, config_file)
    _check_split_sizes(config, config_file)
    check_dataset_sources(datasets, config_file)


def check_dataset_sources(datasets: dict, config_file: str = "config") -> None:
    """Each dataset's files and source keys: paths exist, a GSE family file's platform is chosen."""
    for name, ds in datasets.items():
        where = f"datasets.{name}"
        if ds["source"] == "embedded":
            for key in ["matrix"] + (["samples"] if ds["kind"] == "bulk" else []):
                if key not in ds:
                    raise InputError(config_file, f"{where}.{key}", "required for `source: embedded`",
                                     "give the path of the shipped file (see config/config.yaml)")
                if not Path(ds[key]).exists():
                    raise InputError(config_file, f"{where}.{key}", f"file '{ds[key]}' does not exist",
                                     "fix the path, or restore resources/ from git")
                kind = special_file(ds[key])
                if kind:  # a FIFO would hang the staging job, a directory fail in it
                    raise InputError(config_file, f"{where}.{key}", f"'{ds[key]}' is {kind}, not a regular file",
                                     "give the path of the file itself (a TSV, .gz allowed)")
        elif ds["source"] == "geo" and not ds.get("soft"):
            raise InputError(config_file, f"{where}.soft", "required for `source: geo`",
                             "give the GEO SOFT file: a local path or its public URL (GDS or GSE family)")
        elif ds["source"] == "geo" and "://" not in ds["soft"] and not Path(ds["soft"]).is_file():
            raise InputError(config_file, f"{where}.soft", f"file '{ds['soft']}' does not exist",
                             "fix the path, or give the file's URL")
        elif ds["source"] in ("xena", "gdc", "cgga", "gtex", "geo") and ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.kind", f"source '{ds['source']}' provides bulk data",
                             "set `kind: bulk`")
        if ds["source"] == "xena" and "cohort" not in ds:
            raise InputError(config_file, f"{where}.cohort", "required for `source: xena`",
                             "set the TCGA cohort code, e.g. `cohort: KIRC`")
        if ds["source"] == "gdc" and "gdc_file_id" not in ds:
            raise InputError(config_file, f"{where}.gdc_file_id", "required for `source: gdc`",
                             "set the GDC file UUID of a genes x samples matrix")
        soft = _soft_header(ds)
        if soft and soft["kind"] == "GSE":  # platforms chosen here, before any job reads the file
            from gexflow.geo import check_platform

            check_platform(soft, ds.get("platform"), ds["soft"], f"{where}.platform")
        if ds.get("gene_id_type") == "probe":
            gse = soft["kind"] == "GSE" if soft else ds.get("source") == "geo" and "GSE" in Path(ds["soft"]).name
            if "probe_annotation" not in ds and not gse:  # a GSE family file's platform table annotates
                gpl = (soft or {}).get("dataset_platform") or "the platform's GPL id"
                raise InputError(config_file, f"{where}.probe_annotation", "required for `gene_id_type: probe`",
                                 f"give the platform annotation: {{file: {gpl}.annot.gz}} (a GEO .annot or a TSV)")
        if ds.get("gene_id_type") == "probe" and "probe_annotation" in ds:
            if not Path(ds["probe_annotation"]["file"]).exists():
                raise InputError(config_file, f"{where}.probe_annotation.file",
                                 f"file '{ds['probe_annotation']['file']}' does not exist", "fix the path")
        if ds.get("missing_covariates") == "from_patient" and not ds.get("patient_column"):
            raise InputError(config_file, f"{where}.missing_covariates", "`from_patient` needs the dataset's "
                             "`patient_column`", "set `patient_column`, or use drop_samples or drop_covariate")
        if ds["scale"] == "log2_offset" and "log_offset" not in ds:
            raise InputError(config_file, f"{where}.log_offset", "required for `scale: log2_offset`",
                             "set the pseudo-count the values were logged with (0.25 for the MetaGSCA tables)")


def _soft_header(ds: dict) -> dict | None:
    """The header scan of a geo dataset's local SOFT file (None for a URL or another source)."""
    if ds.get("source") != "geo" or not ds.get("soft") or "://" in ds["soft"] or not Path(ds["soft"]).is_file():
        return None
    from gexflow.geo import scan_soft

    return scan_soft(ds["soft"])


def _check_results_dir(config: dict, config_file: str) -> None:
    """results_dir never inside (or above) the repository's own directories: a stage writing
    there could overwrite shipped data or code."""
    if "results_dir" not in config:  # only a config whose schema defaults were not filled in
        return
    raw = str(config["results_dir"])
    target = Path(raw).resolve()
    bases = [Path.cwd().resolve()] + ([REPO] if (REPO / "Snakefile").is_file() else [])
    fix = ("write results outside the repository's " + ", ".join(f"{d}/" for d in PROTECTED_DIRS[:5]) +
           " (the default `results`, or an absolute path elsewhere)")
    for base in dict.fromkeys(bases):
        for d in PROTECTED_DIRS:
            protected = (base / d).resolve()
            if target == protected or protected in target.parents:
                raise InputError(config_file, "results_dir", f"'{raw}' is inside {d}/ ({protected})", fix)
    if REPO in bases and (target == REPO or target in REPO.parents):
        raise InputError(config_file, "results_dir", f"'{raw}' is the repository directory {REPO} or above it "
                         "(stage directories would be written beside its source)", fix)


def _check_global_settings(config: dict, config_file: str) -> None:
    """Every global settings block (`<stage>.settings.<model>`, infer.learned, embed.settings)
    and every `generate.grid` entry against the model's own settings."""
    for stage in ("generate", "infer"):
        for model, block in ((config.get(stage) or {}).get("settings") or {}).items():
            where = f"{stage}.settings.{model}"
            if model not in trainable(stage):
                raise InputError(config_file, where, f"unknown model '{model}' of {stage}",
                                 f"{_closest(model, trainable(stage))}use {', '.join(trainable(stage))}")
            model_settings_table.check_settings(model, block, where, config_file)
    if "learned" in (config.get("infer") or {}):
        model_settings_table.check_settings("learned", config["infer"]["learned"], "infer.learned", config_file)
    if "settings" in (config.get("embed") or {}):
        model_settings_table.check_settings("factorized", config["embed"]["settings"], "embed.settings",
                                            config_file)
    _check_grid((config.get("generate") or {}).get("grid") or {}, "generate.grid", config_file)


def _check_grid(grid: dict, where: str, config_file: str) -> None:
    """A validation grid ({model: {setting: [values]}}): models of generate, settings of that
    model, values of the setting's type, no value twice (identical points would be trained and
    reported as a choice)."""
    for model, points in grid.items():
        if model not in trainable("generate"):
            raise InputError(config_file, f"{where}.{model}", f"unknown model '{model}' of generate",
                             f"{_closest(model, trainable('generate'))}use {', '.join(trainable('generate'))}")
        for key, values in (points or {}).items():
            field = f"{where}.{model}.{key}"
            if key not in model_settings_table.names(model):
                model_settings_table.check_settings(model, {key: None}, f"{where}.{model}", config_file)
            if not isinstance(values, list) or not values:
                raise InputError(config_file, field, "is not a non-empty list of values to try",
                                 f"write `{key}: [a, b]` (every value is trained; the best validation score wins)")
            for v in values:
                model_settings_table.check_settings(model, {key: v}, f"{where}.{model}", config_file)
            texts = [canonical_json(v) for v in values]
            if len(set(texts)) < len(texts):
                twice = next(v for v, t in zip(values, texts) if texts.count(t) > 1)
                raise InputError(config_file, field, f"lists {model_settings_table.yaml_text(twice)} more than once "
                                 "(identical grid points would be trained and reported as a choice)",
                                 "list each value once")


def _check_label(label, field: str, config_file: str) -> list[str]:
    """A label (a column or a list of columns) names at least one column; returns the columns."""
    cols = [label] if isinstance(label, str) else list(label) if isinstance(label, (list, tuple)) else []
    if not cols or any(not isinstance(c, str) or not c.strip() for c in cols):
        raise InputError(config_file, field, f"{model_settings_table.yaml_text(label)} names no class column",
                         "name the sample-sheet column(s) holding the classes, e.g. `label: condition` or "
                         "`label: [cohort, condition]`")
    return cols


def _uses_deg(sets: dict, name: str, trail=()) -> bool:
    """Does gene set `name` need DEG calls (a `deg` set, or a union/intersection with one)?"""
    spec = sets.get(name, {})
    if spec.get("method") == "deg":
        return True
    if spec.get("method") in ("union", "intersection") and name not in trail:
        return any(_uses_deg(sets, part, (*trail, name)) for part in spec.get("of", []))
    return False


def _check_gene_set(config: dict, field: str, set_name: str, dataset: str, config_file: str, *,
                    what: str = "gene set", allow_all: bool = False, example: str = "") -> None:
    """The one gene-set check of the model stages: `set_name` is a key of select.sets (or `all`
    where allowed), and a set built from DEG calls names a dataset of deg.datasets."""
    sets = config["select"]["sets"]
    if allow_all and set_name == "all":
        return
    if set_name not in sets:
        raise InputError(config_file, field, f"'{set_name}' is not a set under select.sets",
                         f"{_closest(set_name, sets)}use {'`all` (every filtered gene) or ' if allow_all else ''}"
                         f"one of: {', '.join(sets)}{example}")
    if _uses_deg(sets, set_name) and dataset not in config["deg"]["datasets"]:
        raise InputError(config_file, field, f"DEG set on '{dataset}', which is not in deg.datasets",
                         f"add {dataset} to deg.datasets or choose another {what}")


def _check_split_sizes(config: dict, config_file: str) -> None:
    """Before any job: every class of every running experiment has at least as many patients as
    the split has folds (else StratifiedGroupKFold fails deep inside a job)."""
    for stage in ("generate", "infer", "embed"):
        sec = config.get(stage) or {}
        for name in sec.get("run", []):
            exp = sec.get("experiments", {}).get(name)
            if not exp or exp.get("dataset") not in config["datasets"] or "label" not in exp:
                continue
            labels = [exp["label"]] if isinstance(exp["label"], str) else list(exp["label"])
            counts = sheet_counts(config["datasets"][exp["dataset"]], labels)
            if counts is None:
                continue
            per_class, _ = counts
            split = effective_split(config, stage, exp)
            folds = split["folds"]
            small = {k: v for k, v in per_class.items() if v < folds}
            if small:
                k, v = min(small.items(), key=lambda kv: kv[1])
                field = split_field(config, stage, name, exp)
                raise InputError(config_file, field, f"{folds} folds, but class '{k}' of experiment {name} has only "
                                 f"{v} patients (each fold's test part needs one of every class)",
                                 f"set {field} to at most {min(per_class.values())}, or merge small classes "
                                 "(label) / exclude them (the dataset's `exclude`)")
            # The validation part is carved from what a test fold leaves, in val_carve_splits parts:
            # every class needs that many patients left, or sklearn stops inside split_samples.
            parts = val_carve_splits(folds, split["val_fraction"])
            short = validation_shortfall(per_class, folds, split["val_fraction"])
            if short:
                k, left = short
                field = split_field(config, stage, name, exp)
                raise InputError(config_file, field, f"class '{k}' of experiment {name} has {per_class[k]} patients: "
                                 f"a test fold of {folds} leaves {left}, too few to carve a validation part of "
                                 f"{split['val_fraction']} ({parts} parts, one patient of every class each)",
                                 f"lower {field}, raise {split_field(config, stage, name, exp, 'val_fraction')}, "
                                 "or merge small classes (label)")


def validation_shortfall(per_class: dict, folds: int, val_fraction: float) -> tuple[str, int] | None:
    """(class, patients left) of the class a test fold leaves too few patients to carve a
    validation part with one of every class (val_carve_splits parts), or None. A test fold takes
    at most ceil(n / folds) of a class's n patients."""
    parts = val_carve_splits(folds, val_fraction)
    left = {k: v - -(-v // folds) for k, v in per_class.items()}
    short = {k: v for k, v in left.items() if v < parts}
    return min(short.items(), key=lambda kv: kv[1]) if short else None


def val_carve_splits(folds: int, val_fraction: float) -> int:
    """The parts a fold's non-test patients are cut into to carve its validation part of about
    `val_fraction` of all samples (splits.fold_splits takes one part)."""
    return max(2, int(round(1 / (val_fraction / (1 - 1 / folds)))))


def running_experiments(config: dict, stage: str, config_file: str):
    """(name, experiment, its config path, its dataset entry) of each experiment a model stage
    runs; a run name or dataset that does not exist is an error. Only the experiments that run
    are checked: a config merged over the default carries its other entries."""
    sec = config.get(stage, {"run": []})
    experiments = sec.get("experiments", {})
    for name in sec["run"]:
        if name not in experiments:
            raise InputError(config_file, f"{stage}.run", f"'{name}' is not a key of {stage}.experiments",
                             f"{_closest(name, experiments)}use one of: {', '.join(experiments) or '(none defined)'}")
    for name in sec["run"]:
        exp, where = experiments[name], f"{stage}.experiments.{name}"
        ds = config["datasets"].get(exp["dataset"])
        if ds is None:
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is not a key of `datasets`",
                             f"{_closest(exp['dataset'], config['datasets'])}use one of: "
                             f"{', '.join(config['datasets'])}")
        yield name, exp, where, ds


def _check_run_folds(config: dict, stage: str, name: str, exp: dict, config_file: str) -> None:
    sec = config[stage]
    folds = effective_split(config, stage, exp)["folds"]
    if sec["run_folds"] > folds:
        field = split_field(config, stage, name, exp)
        raise InputError(config_file, f"{stage}.run_folds", f"{sec['run_folds']} folds to run of the {folds} "
                         f"of experiment {name}'s split ({field})",
                         f"set {stage}.run_folds <= {folds}, or raise {field}")


def _check_folds_and_models(config: dict, stage: str, name: str, exp: dict, config_file: str, *,
                            epochs: int) -> None:
    """A generate or infer experiment: run_folds fits its split (the `split` section, the
    dataset's, the experiment's), its label names a column, its per-model settings name known
    models and are settings of those models, torch models have global settings (epochs)."""
    sec, where, models = config[stage], f"{stage}.experiments.{name}", trainable(stage)
    _check_run_folds(config, stage, name, exp, config_file)
    _check_label(exp["label"], f"{where}.label", config_file)
    for model, block in (exp.get("settings") or {}).items():
        if model not in models:
            raise InputError(config_file, f"{where}.settings.{model}", "unknown model",
                             f"{_closest(model, models)}use {', '.join(models)}")
        model_settings_table.check_settings(model, block, f"{where}.settings.{model}", config_file)
    for model in exp.get("models", sec["models"]):
        if MODELS[model].kind == "torch" and model not in (sec.get("settings") or {}):
            raise InputError(config_file, f"{stage}.settings.{model}", "missing (its epochs are required)",
                             f"add `{model}: {{epochs: {epochs}}}` under {stage}.settings")


def _check_generate(config: dict, config_file: str) -> None:
    gen = config.get("generate") or {}
    for name, exp, where, ds in running_experiments(config, "generate", config_file):
        if ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is single-cell",
                             "generators run on bulk datasets")
        _check_gene_set(config, f"{where}.genes", exp["genes"], exp["dataset"], config_file)
        _check_folds_and_models(config, "generate", name, exp, config_file, epochs=300)
        _check_grid(exp.get("grid") or {}, f"{where}.grid", config_file)
        models = exp.get("models", gen["models"])
        baseline = (gen.get("evaluation") or {}).get("baseline")  # absent only in a config not validated
        if baseline is not None and baseline not in models:
            field = "generate.evaluation.baseline"
            if baseline not in trainable("generate"):
                raise InputError(config_file, field, f"'{baseline}' is not a model of generate",
                                 f"{_closest(baseline, models)}set it to one of the models of experiment {name}: "
                                 f"{', '.join(models)}")
            models_field = f"{where}.models" if "models" in exp else "generate.models"
            raise InputError(config_file, field, f"'{baseline}' is not among the models of experiment {name} "
                             f"({', '.join(models)}), so nothing could be compared with it",
                             f"add {baseline} to {models_field}, or set {field} to one of: {', '.join(models)}")


def _check_infer(config: dict, config_file: str) -> None:
    """infer: experiments that run name existing datasets, landmark sets and models; predict jobs
    name a running experiment, one of its models and a fold that is trained."""
    inf = config.get("infer", {"run": []})
    experiments = inf.get("experiments", {})
    for name, exp, where, _ in running_experiments(config, "infer", config_file):
        _check_gene_set(config, f"{where}.landmarks", exp["landmarks"], exp["dataset"], config_file,
                        what="landmark set", example=" (e.g. an `l1000` set: {method: l1000})")
        _check_folds_and_models(config, "infer", name, exp, config_file, epochs=100)
        if exp.get("learned_landmarks") and "learned" not in inf:
            raise InputError(config_file, "infer.learned", f"missing, but {where}.learned_landmarks is true",
                             "add `learned: {epochs: 100, hidden: [256], group_lasso: 0.01}` under infer")
    for name, spec in inf.get("predict", {}).items():
        where = f"infer.predict.{name}"
        if spec["experiment"] not in inf["run"]:
            continue  # a config merged over the default may carry jobs of experiments it does not run
        exp = experiments[spec["experiment"]]
        if spec.get("fold") is None:
            if exp.get("release") in (None, False):
                raise InputError(config_file, f"{where}.fold", f"null (the released model), but experiment "
                                 f"{spec['experiment']} has no release", f"add `release: {{}}` to infer.experiments."
                                 f"{spec['experiment']}, or name a fold and a model")
        elif spec.get("model") not in exp.get("models", inf["models"]):
            raise InputError(config_file, f"{where}.model", f"'{spec.get('model')}' is not trained in experiment "
                             f"{spec['experiment']}", "choose one of the experiment's models")
        elif spec["fold"] >= inf["run_folds"]:
            raise InputError(config_file, f"{where}.fold", f"fold {spec['fold']} is not trained "
                             f"(infer.run_folds = {inf['run_folds']})", "use fold 0")
        if spec.get("scale") == "log2_offset" and "log_offset" not in spec:
            raise InputError(config_file, f"{where}.log_offset", "required for `scale: log2_offset`",
                             "set the pseudo-count the values were logged with")
        if not Path(spec["matrix"]).exists():
            raise InputError(config_file, f"{where}.matrix", f"file '{spec['matrix']}' does not exist",
                             "give the path of a genes x samples TSV of landmark genes")


def _check_releases(config: dict, config_file: str) -> None:
    """A release names `auto` or one of its experiment's models (sizes, for embeddings); an
    embed_samples job names a running experiment with a release and an existing matrix."""
    for stage, key in (("generate", "model"), ("infer", "model"), ("embed", "size")):
        sec = config.get(stage) or {}
        for name, exp, where, _ in running_experiments(config, stage, config_file):
            if exp.get("release") in (None, False):
                continue
            for k in exp["release"]:
                if k not in (sec.get("release") or {}):
                    raise InputError(config_file, f"{where}.release.{k}", f"unknown release setting '{k}'",
                                     f"{_closest(k, sec.get('release') or {})}use some of: "
                                     f"{', '.join(sec.get('release') or {})}")
            value = {**sec["release"], **exp["release"]}[key]  # the schema's default fills sec["release"]
            choices = exp["sizes"] if stage == "embed" else exp.get("models", sec.get("models", []))
            if value != "auto" and value not in choices:
                field = f"{where}.release.{key}" if key in exp["release"] else f"{stage}.release.{key}"
                raise InputError(config_file, field, f"'{value}' is not {'a size' if stage == 'embed' else 'a model'} "
                                 f"of experiment {name}", f"use auto or one of: {', '.join(map(str, choices))}")
        if stage == "generate":
            for _name, exp, where, _ in running_experiments(config, stage, config_file):
                rel = {**(sec.get("release") or {}), **(exp.get("release") or {})}
                if exp.get("release") not in (None, False) and rel.get("covariates") and \
                        not Path(rel["covariates"]).is_file():
                    raise InputError(config_file, f"{where}.release.covariates", f"file '{rel['covariates']}' does "
                                     "not exist", "give a TSV of covariate rows, or remove the key to draw n rows")
    emb = config.get("embed") or {}
    for name, spec in (emb.get("embed_new") or {}).items():
        where = f"embed.embed_new.{name}"
        if spec["experiment"] not in emb.get("run", []):
            continue
        if (emb.get("experiments") or {})[spec["experiment"]].get("release") in (None, False):
            raise InputError(config_file, f"{where}.experiment", f"experiment {spec['experiment']} has no release",
                             f"add `release: {{}}` to embed.experiments.{spec['experiment']}")
        if not Path(spec["matrix"]).exists():
            raise InputError(config_file, f"{where}.matrix", f"file '{spec['matrix']}' does not exist",
                             "give the path of a genes x samples TSV")


def _check_select_sets(sets: dict, config_file: str) -> None:
    for name, spec in sets.items():
        where = f"select.sets.{name}"
        method = spec["method"]
        if method in ("gmt", "list") and not Path(spec.get("file", "")).is_file():
            raise InputError(config_file, f"{where}.file", f"{method} file '{spec.get('file', '')}' does not exist",
                             "give the path of a GMT file (name, description, genes; tab-separated)" if method == "gmt"
                             else "give the path of a gene list (a genes.tsv, or one gene per line)")
        if method == "kegg" and not spec.get("pathways"):
            raise InputError(config_file, f"{where}.pathways", "required for `method: kegg`",
                             "list KEGG pathway ids, e.g. [hsa05211]")
        if method in ("union", "intersection"):
            for part in spec.get("of", []):
                if part not in sets:
                    raise InputError(config_file, f"{where}.of", f"'{part}' is not a set under `select.sets`",
                                     f"use some of: {', '.join(k for k in sets if k != name)}")
            if len(spec.get("of", [])) < 2:
                raise InputError(config_file, f"{where}.of", f"`method: {method}` needs at least two sets",
                                 "list two or more set names")
    # Unions of unions are fine; a cycle is not.
    def visit(name, trail):
        if name in trail:
            raise InputError(config_file, f"select.sets.{name}.of",
                             f"circular definition {' -> '.join(trail + [name])}",
                             "make the union/intersection refer only to sets defined without it")
        for part in sets[name].get("of", []) if sets[name]["method"] in ("union", "intersection") else []:
            visit(part, trail + [name])

    for name in sets:
        visit(name, [])


def special_file(path) -> str | None:
    """What a path is when it is not a regular file ('a directory', 'a FIFO (named pipe)', ...),
    else None. Checked before anything opens it: reading a FIFO blocks for ever."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return None


def needed_sets(config: dict) -> set[str]:
    """The gene sets a run writes somewhere: those applied to `select.datasets` (each set's own
    `datasets` restricts it), those a running experiment asks for, and the parts of unions."""
    sets, out = config["select"]["sets"], set()

    def need(name):
        if name in sets and name not in out:
            out.add(name)
            for part in sets[name].get("of", []) if sets[name]["method"] in ("union", "intersection") else []:
                need(part)

    for name, spec in sets.items():
        if set(spec.get("datasets", config["select"]["datasets"])) & set(config["select"]["datasets"]):
            need(name)
    for stage, key in (("generate", "genes"), ("infer", "landmarks"), ("embed", "genes")):
        sec = config.get(stage) or {}
        for exp in sec.get("run", []):
            need((sec.get("experiments", {}).get(exp) or {}).get(key))
    return out


def _kegg_pathways(path: str) -> dict[str, tuple[str, int]]:
    """pathway id -> (name, member genes) of a shipped KEGG table (standard library: parse time)."""
    import csv

    out: dict[str, list] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.setdefault(row["pathway_id"], [row["pathway_name"], 0])[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def _kegg_close_matches(pid: str, pathways: dict) -> list[str]:
    """Ids close to `pid` by spelling, by number (hsa5211, 05211 -> hsa05211) and by name."""
    digits = re.sub(r"\D", "", str(pid))
    by_number = [k for k in pathways if digits and re.sub(r"\D", "", k).lstrip("0") == digits.lstrip("0")]
    by_spelling = difflib.get_close_matches(str(pid), list(pathways), n=3, cutoff=0.7)
    names = {v[0].lower(): k for k, v in pathways.items()}
    by_name = [names[n] for n in difflib.get_close_matches(str(pid).lower(), list(names), n=3, cutoff=0.6)]
    by_name += [k for k, v in pathways.items() if len(str(pid)) > 3 and str(pid).lower() in v[0].lower()]
    return [f"{k} ({pathways[k][0]})" for k in dict.fromkeys(by_number + by_spelling + by_name)][:5]


def _check_set_contents(config: dict, config_file: str) -> None:
    """Before any job, for every set the run writes: KEGG ids against the shipped table in force
    (`references.source: embedded`; a remote table is checked when it is downloaded), GMT set
    names against the file, and sets a generator experiment uses having at least 2 genes in the
    table (a correlation needs two; after id mapping the run checks again)."""
    sets, refs = config["select"]["sets"], config["references"]
    kegg_file = refs.get("kegg") if refs.get("source") == "embedded" else None
    pathways = _kegg_pathways(kegg_file) if kegg_file and Path(kegg_file).is_file() else None
    for name in sorted(needed_sets(config)):
        spec, where = sets[name], f"select.sets.{name}"
        if spec["method"] == "kegg" and pathways is None:
            for pid in spec["pathways"]:
                if not re.fullmatch(r"hsa\d{5}", str(pid)):
                    raise InputError(config_file, f"{where}.pathways", f"'{pid}' is not a KEGG pathway id",
                                     "use ids such as hsa05211 (the KEGG REST table is checked when it is downloaded)")
        if spec["method"] == "kegg" and pathways is not None:
            for pid in spec["pathways"]:
                if pid not in pathways:
                    close = _kegg_close_matches(pid, pathways)
                    raise InputError(config_file, f"{where}.pathways", f"unknown KEGG pathway '{pid}' (the shipped "
                                     f"KEGG 2017 build, {kegg_file}, has {len(pathways)} pathways)",
                                     (f"did you mean {', '.join(close)}? " if close else "use an hsa id of that "
                                      "table; ") + "for a pathway the shipped build lacks, give its genes as a GMT "
                                     "file (`method: gmt`) or set `references.source: remote` (needs network)")
        if spec["method"] == "gmt" and spec.get("names") and Path(spec.get("file", "")).is_file():
            import gzip

            with open(spec["file"], "rb") as fh:
                gz = fh.read(2) == b"\x1f\x8b"
            opener = gzip.open if gz else open
            with opener(spec["file"], "rt", encoding="utf-8") as fh:
                in_file = [line.split("\t", 1)[0] for line in fh if line.strip()]
            for set_name in spec["names"]:
                if set_name not in in_file:
                    close = difflib.get_close_matches(set_name, in_file, n=3, cutoff=0.5)
                    raise InputError(config_file, f"{where}.names", f"no gene set '{set_name}' in {spec['file']} "
                                     f"({len(in_file)} sets)", (f"did you mean {', '.join(close)}? " if close else "")
                                     + "use names from the first column of the GMT file")
    gen = config.get("generate") or {}
    for exp_name in gen.get("run", []):
        exp = (gen.get("experiments") or {}).get(exp_name) or {}
        spec = sets.get(exp.get("genes"))
        if spec and spec["method"] == "kegg" and pathways is not None:
            size = sum(pathways[p][1] for p in spec["pathways"] if p in pathways)
            if size < 2:
                raise InputError(config_file, f"select.sets.{exp['genes']}.pathways", f"{size} gene in the "
                                 f"pathways of set '{exp['genes']}', which generate experiment {exp_name} uses",
                                 "give a generator at least 2 genes (more pathways, or another set)")


def sheet_counts(ds: dict, columns: list[str]) -> tuple[dict, int] | None:
    """(patients per class, patients) of an embedded bulk dataset's sample sheet, after its
    include / exclude / condition_map; None when the sheet cannot be read here (the filter stage
    reports that). The sheet is read by sheets.read_sheet, as the filter reads it."""
    sheet = _read_embedded_sheet(ds)
    if sheet is None:
        return None
    from gexflow.sheets import derive_rules, derive_values, id_column, unmatched_error

    sheet = sheet.fillna("")
    for kind, col, rule in derive_rules(ds):  # the filter's own derive / levels rules, before any job
        if rule["from"] not in sheet.columns:
            return None  # the filter stage reports it
        values = sheet[rule["from"]].astype(str).tolist()
        out = derive_values(values, kind, rule)
        unmatched_error(kind, col, rule, values, out, ds["samples"])
        sheet = sheet.assign(**{col: ["" if o is None else o for o in out]})
    for c, v in (ds.get("include") or {}).items():
        if c not in sheet.columns:
            return None
        sheet = sheet[sheet[c].isin([str(x) for x in v])]
    for c, v in (ds.get("exclude") or {}).items():
        if c not in sheet.columns:
            return None
        sheet = sheet[~sheet[c].isin([str(x) for x in v])]
    cmap, cond = ds.get("condition_map", {}), ds.get("condition_column")
    if cond and cond in sheet.columns:
        sheet = sheet.assign(**{cond: sheet[cond].map(lambda v: cmap.get(v, v))})
    if sheet.empty or any(c not in sheet.columns for c in columns):
        return None
    pcol = ds.get("patient_column") or id_column(ds)
    if pcol not in sheet.columns:
        return None
    patients = sheet[pcol].where(sheet[pcol] != "", sheet.get(id_column(ds), sheet[pcol]))
    per_class: dict[str, set] = {}
    for key, p in zip(sheet[columns].astype(str).agg("|".join, axis=1), patients):
        per_class.setdefault(key, set()).add(p)
    return {k: len(v) for k, v in per_class.items()}, len(set(patients))


def _read_embedded_sheet(ds: dict):
    """An embedded bulk dataset's sample sheet through sheets.read_sheet (None when there is none
    to read here, or it cannot be read: the staging and filter stages report that)."""
    from gexflow.sheets import id_column, read_sheet, used_columns

    path = ds.get("samples")
    if ds.get("source") != "embedded" or not path or not Path(path).is_file():
        return None
    try:
        return read_sheet(path, id_column(ds), used_columns(ds))
    except InputError:
        return None


def _sample_sheet_columns(ds: dict) -> list[str] | None:
    """The columns of an embedded bulk dataset's sample sheet as the filter sees them (None when
    there is none to read)."""
    sheet = _read_embedded_sheet(ds)
    return None if sheet is None else list(sheet.columns)


EMBED_SETTING_KEYS = tuple(model_settings_table.names("factorized"))


def _check_embed(config: dict, config_file: str) -> None:
    """embed: experiments that run name a bulk dataset, an existing gene set (or `all`), label
    columns of its sample sheet, and sizes >= 1; run_folds fits the split; their settings are
    settings of the factorized embedding."""
    for name, exp, where, ds in running_experiments(config, "embed", config_file):
        if ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is single-cell",
                             "embedding experiments run on bulk datasets")
        _check_gene_set(config, f"{where}.genes", exp["genes"], exp["dataset"], config_file, allow_all=True)
        for size in exp.get("sizes", []):
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise InputError(config_file, f"{where}.sizes", f"embedding size {size} is not an integer >= 1",
                                 "use sizes such as [2, 16]")
        labels = {"label": exp["label"], **(exp.get("labels") or {})}
        for lname, lab in labels.items():
            _check_label(lab, f"{where}.label" if lname == "label" else f"{where}.labels.{lname}", config_file)
        columns = _sample_sheet_columns(ds)
        if columns is not None:
            for lname, lab in labels.items():
                for col in [lab] if isinstance(lab, str) else lab:
                    if col not in columns:
                        field = f"{where}.label" if lname == "label" else f"{where}.labels.{lname}"
                        raise InputError(config_file, field, f"label column '{col}' is not in the sample sheet "
                                         f"{ds['samples']}",
                                         f"{_closest(col, columns)}use one of: {', '.join(columns)}")
        _check_run_folds(config, "embed", name, exp, config_file)
        model_settings_table.check_settings("factorized", exp.get("settings") or {}, f"{where}.settings",
                                            config_file)


# ------------------------------------------------------------------------------------------ CLI
def _summary(config: dict) -> str:
    runs = [f"{s} {len((config.get(s) or {}).get('run', []))}" for s in ("generate", "infer", "embed")]
    return f"datasets {len(config['run']['datasets'])}; experiments: {', '.join(runs)}"


def main(argv=None) -> int:
    """`python -m gexflow.config FILE [FILE...]`: every check a run makes before its first job,
    on the config these files make (the first as the workflow's config/config.yaml, the others
    merged over it as `--configfile`s; one file alone as with --replace-workflow-config). Prints
    one line `gexflow: ...` to stderr and returns 1 at the first problem; 0 and a summary line
    otherwise."""
    import sys

    args = [str(p) for p in (sys.argv[1:] if argv is None else argv)]
    print_results_dir = "--results-dir" in args
    paths = [a for a in args if a != "--results-dir"]
    if not paths:
        print("usage: python -m gexflow.config [--results-dir] config/config.yaml [MY.yaml ...]", file=sys.stderr)
        return 2
    name = ", ".join(paths)
    try:
        check_config_files(paths)
        config = load_config(paths)
        notes = scope_user_config(config, paths)
        config = validate_config(config, name, SCHEMA)
    except InputError as e:
        print(f"gexflow: {name_origin(e, paths)}", file=sys.stderr)
        return 1
    if print_results_dir:  # for the Makefile's report target: where this config's run writes
        print(config["results_dir"])
        return 0
    for note in notes:
        print(f"gexflow: {note}")
    print(f"gexflow: config OK ({name}): {_summary(config)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
