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
    _check_generate(config, config_file)
    _check_split_sizes(config, config_file)
    _check_infer(config, config_file)
    _check_embed(config, config_file)
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
        if ds.get("gene_id_type") == "probe":
            if "probe_annotation" not in ds:
                raise InputError(config_file, f"{where}.probe_annotation", "required for `gene_id_type: probe`",
                                 "give the platform annotation: {file: GPL97.annot.gz} (a GEO .annot or a TSV)")
            if not Path(ds["probe_annotation"]["file"]).exists():
                raise InputError(config_file, f"{where}.probe_annotation.file",
                                 f"file '{ds['probe_annotation']['file']}' does not exist", "fix the path")
        if ds["scale"] == "log2_offset" and "log_offset" not in ds:
            raise InputError(config_file, f"{where}.log_offset", "required for `scale: log2_offset`",
                             "set the pseudo-count the values were logged with (0.25 for the MetaGSCA tables)")


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


def sheet_counts(ds: dict, columns: list[str]) -> tuple[dict, int] | None:
    """(patients per class, patients) of an embedded bulk dataset's sample sheet, after its
    include / exclude / condition_map; None when the sheet cannot be read here (the filter stage
    reports that). Standard library only: this runs at parse time."""
    import csv
    import gzip

    path = Path(ds.get("samples", ""))
    if ds.get("source") != "embedded" or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    cmap, cond = ds.get("condition_map", {}), ds.get("condition_column")
    keep = []
    for r in rows:
        if any(str(r.get(c)) not in map(str, v) for c, v in ds.get("include", {}).items()):
            continue
        if any(str(r.get(c)) in map(str, v) for c, v in ds.get("exclude", {}).items()):
            continue
        if cond and cond in r:
            r[cond] = cmap.get(r[cond], r[cond])
        keep.append(r)
    if not keep or any(c not in keep[0] for c in columns):
        return None
    pcol = ds.get("patient_column") or ds.get("sample_id_column", "sample_barcode")
    per_class: dict[str, set] = {}
    for r in keep:
        per_class.setdefault("|".join(str(r[c]) for c in columns), set()).add(r.get(pcol))
    return {k: len(v) for k, v in per_class.items()}, len({r.get(pcol) for r in keep})


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
            ds_split = config["datasets"][exp["dataset"]].get("split", {})
            folds = {**config.get("split", {}), **ds_split, **exp.get("split", {})}.get("folds", 5)
            small = {k: v for k, v in per_class.items() if v < folds}
            if small:
                k, v = min(small.items(), key=lambda kv: kv[1])
                field = f"{stage}.experiments.{name}.split.folds" if "folds" in exp.get("split", {}) else \
                    f"datasets.{exp['dataset']}.split.folds" if "folds" in ds_split else "split.folds"
                raise InputError(config_file, field, f"{folds} folds, but class '{k}' of experiment {name} has only "
                                 f"{v} patients (each fold's test part needs one of every class)",
                                 f"set {field} to at most {min(per_class.values())}, or merge small classes "
                                 "(label) / exclude them (the dataset's `exclude`)")


def running_experiments(config: dict, stage: str, config_file: str):
    """(name, experiment, its config path, its dataset entry) of each experiment a model stage
    runs; a run name or dataset that does not exist is an error. Only the experiments that run
    are checked: a config merged over the default carries its other entries."""
    sec = config.get(stage, {"run": []})
    experiments = sec.get("experiments", {})
    for name in sec["run"]:
        if name not in experiments:
            raise InputError(config_file, f"{stage}.run", f"'{name}' is not a key of {stage}.experiments",
                             f"use one of: {', '.join(experiments) or '(none defined)'}")
    for name in sec["run"]:
        exp, where = experiments[name], f"{stage}.experiments.{name}"
        ds = config["datasets"].get(exp["dataset"])
        if ds is None:
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is not a key of `datasets`",
                             f"use one of: {', '.join(config['datasets'])}")
        yield name, exp, where, ds


def _check_folds_and_models(config: dict, stage: str, name: str, exp: dict, ds: dict, config_file: str, *,
                            default_run_folds: int, epochs: int) -> None:
    """A model stage's experiment: run_folds fits its split (the `split` section, the dataset's,
    the experiment's), its per-model settings name known models, torch models have settings."""
    from gexflow.models.registry import MODELS, trainable

    sec, where, models = config[stage], f"{stage}.experiments.{name}", trainable(stage)
    folds = {**config.get("split", {}), **ds.get("split", {}), **exp.get("split", {})}.get("folds", 5)
    if sec.get("run_folds", default_run_folds) > folds:
        raise InputError(config_file, f"{stage}.run_folds", f"{sec['run_folds']} folds to run of the {folds} "
                         f"of experiment {name}'s split", f"set {stage}.run_folds <= split.folds")
    for model in exp.get("settings", {}):
        if model not in models:
            raise InputError(config_file, f"{where}.settings.{model}", "unknown model", f"use {', '.join(models)}")
    for model in exp.get("models", sec.get("models", [])):
        if MODELS[model].kind == "torch" and model not in sec.get("settings", {}):
            raise InputError(config_file, f"{stage}.settings.{model}", "missing (its epochs are required)",
                             f"add `{model}: {{epochs: {epochs}}}` under {stage}.settings")


def _check_generate(config: dict, config_file: str) -> None:
    for name, exp, where, ds in running_experiments(config, "generate", config_file):
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
        _check_folds_and_models(config, "generate", name, exp, ds, config_file, default_run_folds=1, epochs=300)


def _check_infer(config: dict, config_file: str) -> None:
    """infer: experiments that run name existing datasets, landmark sets and models; predict jobs
    name a running experiment, one of its models and a fold that is trained."""
    inf = config.get("infer", {"run": []})
    experiments = inf.get("experiments", {})
    for name, exp, where, ds in running_experiments(config, "infer", config_file):
        sets = config["select"]["sets"]
        if exp["landmarks"] not in sets:
            raise InputError(config_file, f"{where}.landmarks", f"'{exp['landmarks']}' is not a set under select.sets",
                             f"use one of: {', '.join(sets)} (e.g. an `l1000` set: {{method: l1000}})")
        if sets[exp["landmarks"]]["method"] == "deg" and exp["dataset"] not in config["deg"]["datasets"]:
            raise InputError(config_file, f"{where}.landmarks", f"DEG set on '{exp['dataset']}', not in deg.datasets",
                             f"add {exp['dataset']} to deg.datasets or choose another landmark set")
        _check_folds_and_models(config, "infer", name, exp, ds, config_file, default_run_folds=2, epochs=100)
        if exp.get("learned_landmarks") and "learned" not in inf:
            raise InputError(config_file, "infer.learned", f"missing, but {where}.learned_landmarks is true",
                             "add `learned: {epochs: 100, hidden: [256], group_lasso: 0.01}` under infer")
    for name, spec in inf.get("predict", {}).items():
        where = f"infer.predict.{name}"
        if spec["experiment"] not in inf["run"]:
            continue  # a config merged over the default may carry jobs of experiments it does not run
        exp = experiments[spec["experiment"]]
        if spec["model"] not in exp.get("models", inf.get("models", [])):
            raise InputError(config_file, f"{where}.model", f"'{spec['model']}' is not trained in experiment "
                             f"{spec['experiment']}", "choose one of the experiment's models")
        if spec.get("fold", 0) >= inf.get("run_folds", 2):
            raise InputError(config_file, f"{where}.fold", f"fold {spec.get('fold', 0)} is not trained "
                             f"(infer.run_folds = {inf.get('run_folds', 2)})", "use fold 0")
        if spec.get("scale") == "log2_offset" and "log_offset" not in spec:
            raise InputError(config_file, f"{where}.log_offset", "required for `scale: log2_offset`",
                             "set the pseudo-count the values were logged with")
        if not Path(spec["matrix"]).exists():
            raise InputError(config_file, f"{where}.matrix", f"file '{spec['matrix']}' does not exist",
                             "give the path of a genes x samples TSV of landmark genes")


def _sample_sheet_columns(ds: dict) -> list[str] | None:
    """The header of an embedded bulk dataset's sample sheet (None when there is none to read)."""
    path = ds.get("samples")
    if ds.get("source") != "embedded" or not path or not Path(path).exists():
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.readline().rstrip("\n").split("\t")


EMBED_SETTING_KEYS = ("epochs", "gene_dim", "hidden", "activation", "optimiser", "lr", "batch_size", "init_sd",
                      "scale", "mask_fraction", "new_sample_epochs", "new_sample_lr")


def _check_embed(config: dict, config_file: str) -> None:
    """embed: experiments that run name a bulk dataset, an existing gene set (or `all`), label
    columns of its sample sheet, and sizes >= 1; run_folds fits the split."""
    emb = config.get("embed", {"run": []})
    for name, exp, where, ds in running_experiments(config, "embed", config_file):
        if ds["kind"] != "bulk":
            raise InputError(config_file, f"{where}.dataset", f"'{exp['dataset']}' is single-cell",
                             "embedding experiments run on bulk datasets")
        sets = config["select"]["sets"]
        if exp["genes"] != "all" and exp["genes"] not in sets:
            raise InputError(config_file, f"{where}.genes", f"'{exp['genes']}' is not a set under select.sets",
                             f"use `all` (every filtered gene) or one of: {', '.join(sets)}")
        if exp["genes"] != "all" and sets[exp["genes"]]["method"] == "deg" \
                and exp["dataset"] not in config["deg"]["datasets"]:
            raise InputError(config_file, f"{where}.genes", f"DEG set on '{exp['dataset']}', not in deg.datasets",
                             f"add {exp['dataset']} to deg.datasets or choose another gene set")
        for size in exp.get("sizes", []):
            if not isinstance(size, int) or size < 1:
                raise InputError(config_file, f"{where}.sizes", f"embedding size {size} is not an integer >= 1",
                                 "use sizes such as [2, 16]")
        columns = _sample_sheet_columns(ds)
        labels = {"label": exp["label"], **exp.get("labels", {})}
        if columns is not None:
            for lname, lab in labels.items():
                for col in [lab] if isinstance(lab, str) else lab:
                    if col not in columns:
                        field = f"{where}.label" if lname == "label" else f"{where}.labels.{lname}"
                        raise InputError(config_file, field, f"label column '{col}' is not in the sample sheet "
                                         f"{ds['samples']}", f"use one of: {', '.join(columns)}")
        folds = {**config.get("split", {}), **exp.get("split", {})}.get("folds", 5)
        if emb.get("run_folds", 1) > folds:
            raise InputError(config_file, "embed.run_folds", f"{emb['run_folds']} folds to run of the {folds} "
                             f"of experiment {name}'s split", "set embed.run_folds <= split.folds")
        for key in exp.get("settings", {}):
            if key not in EMBED_SETTING_KEYS:
                raise InputError(config_file, f"{where}.settings.{key}", "unknown setting",
                                 f"use some of: {', '.join(EMBED_SETTING_KEYS)}")


def load_yaml(path) -> dict:
    """A YAML config file as a dict; a syntax error names the file, line and column (Snakemake's own
    message names neither)."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, "(whole file)", f"cannot be read ({type(e).__name__}: {e})",
                         "give the path of a readable UTF-8 YAML file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(whole file)"
        raise InputError(path, where, f"not valid YAML: {e.problem or e.context}",
                         "fix the syntax there (indent with spaces, not tabs; close every bracket and quote)") from None
    except yaml.YAMLError as e:
        raise InputError(path, "(whole file)", f"not valid YAML: {e}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise InputError(path, "(top level)", "is not a mapping of config keys",
                         "start from config/config.yaml or config/own_data.yaml")
    return data


def main(argv=None) -> int:
    """`python -m gexflow.config FILE...`: check that config files parse, naming file and line."""
    import sys

    for path in (sys.argv[1:] if argv is None else argv):
        try:
            load_yaml(path)
        except InputError as e:
            print(f"gexflow: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
