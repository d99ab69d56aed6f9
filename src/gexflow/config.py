"""Config checks and the short hashes that name versioned stage directories.

Imported by the Snakefile at parse time: keep it free of heavy imports.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gexflow.errors import InputError


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def section_hash(*parts, length: int = 8) -> str:
    """Short, stable hash of config sections: same settings -> same directory name."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:length]


def check_config(config: dict, schema_path, config_file: str = "config") -> None:
    """Validate `config` against the JSON schema; raise InputError naming the first bad field.

    Snakemake's own `validate()` runs after this (and fills defaults); this pass exists to turn
    jsonschema's multi-line dump into one message with the field path and a fix.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    field = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    hint = err.schema.get("description", "") if isinstance(err.schema, dict) else ""
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        field = f"{field}.{missing}" if field != "(top level)" else missing
        fix = f"add '{missing}' (see config/README.md and config/config.yaml for its meaning and default)"
    elif err.validator == "additionalProperties":
        fix = "remove or correct the unknown key; config/README.md lists every key"
    else:
        fix = f"set a valid value{': ' + hint if hint else ''} (see config/README.md)"
    raise InputError(config_file, field, err.message, fix)


def check_datasets(config: dict, config_file: str = "config") -> None:
    """Cross-field checks that JSON schema cannot express."""
    datasets = config["datasets"]
    for name in config["run"]["datasets"]:
        if name not in datasets:
            raise InputError(config_file, "run.datasets", f"'{name}' is not a key of `datasets`",
                             f"use one of: {', '.join(datasets)}")
    for stage in ("deg", "select"):
        for name in config[stage]["datasets"]:
            if name not in datasets:
                raise InputError(config_file, f"{stage}.datasets", f"'{name}' is not a key of `datasets`",
                                 f"use one of: {', '.join(datasets)}")
            if datasets[name]["kind"] != "bulk":
                raise InputError(config_file, f"{stage}.datasets", f"'{name}' is single-cell",
                                 "DEG calling and gene selection run on bulk datasets; remove it from the list")
            if stage == "deg" and not datasets[name].get("condition_column"):
                raise InputError(config_file, f"datasets.{name}.condition_column", "required for DEG calling",
                                 "name the sample sheet column holding the tumour/normal labels")
    _check_select_sets(config["select"]["sets"], config_file)
    _check_generate(config, config_file)
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
        elif ds["source"] in ("xena", "gdc", "cgga", "gtex") and ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.kind", f"source '{ds['source']}' provides bulk data",
                             "set `kind: bulk`")
        if ds["source"] == "xena" and "cohort" not in ds:
            raise InputError(config_file, f"{where}.cohort", "required for `source: xena`",
                             "set the TCGA cohort code, e.g. `cohort: KIRC`")
        if ds["source"] == "gdc" and "gdc_file_id" not in ds:
            raise InputError(config_file, f"{where}.gdc_file_id", "required for `source: gdc`",
                             "set the GDC file UUID of a genes x samples matrix")
        if ds["scale"] == "log2_offset" and "log_offset" not in ds:
            raise InputError(config_file, f"{where}.log_offset", "required for `scale: log2_offset`",
                             "set the pseudo-count the values were logged with (0.25 for the MetaGSCA tables)")


def _check_select_sets(sets: dict, config_file: str) -> None:
    for name, spec in sets.items():
        where = f"select.sets.{name}"
        method = spec["method"]
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


def _check_generate(config: dict, config_file: str) -> None:
    from gexflow.models.registry import MODELS, trainable

    gen = config.get("generate", {"run": []})
    experiments = gen.get("experiments", {})
    models = trainable("generate")
    for name in gen["run"]:
        if name not in experiments:
            raise InputError(config_file, "generate.run", f"'{name}' is not a key of generate.experiments",
                             f"use one of: {', '.join(experiments) or '(none defined)'}")
    # Only the experiments that run: a config merged over the default carries its other entries.
    for name in gen["run"]:
        exp = experiments[name]
        where = f"generate.experiments.{name}"
        ds = config["datasets"].get(exp["dataset"])
        if ds is None:
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is not a key of `datasets`",
                             f"use one of: {', '.join(config['datasets'])}")
        if ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is single-cell",
                             "generators run on bulk datasets")
        if exp["genes"] not in config["select"]["sets"]:
            raise InputError(config_file, f"{where}.genes", f"'{exp['genes']}' is not a set under select.sets",
                             f"use one of: {', '.join(config['select']['sets'])}")
        if (config["select"]["sets"][exp["genes"]]["method"] == "deg"
                and exp["dataset"] not in config["deg"]["datasets"]):
            raise InputError(config_file, f"{where}.genes",
                             f"DEG set on '{exp['dataset']}', which is not in deg.datasets",
                             f"add {exp['dataset']} to deg.datasets or choose another gene set")
        folds = {**config.get("split", {}), **exp.get("split", {})}.get("folds", 5)
        if gen.get("run_folds", 1) > folds:
            raise InputError(config_file, "generate.run_folds", f"{gen['run_folds']} folds to run of the {folds} "
                             f"of experiment {name}'s split", "set generate.run_folds <= split.folds")
        for model in exp.get("settings", {}):
            if model not in models:
                raise InputError(config_file, f"{where}.settings.{model}", "unknown model", f"use {', '.join(models)}")
        for model in exp.get("models", gen.get("models", [])):
            if MODELS[model].kind == "torch" and model not in gen.get("settings", {}):
                raise InputError(config_file, f"generate.settings.{model}", "missing (its epochs are required)",
                                 f"add `{model}: {{epochs: 300}}` under generate.settings")
