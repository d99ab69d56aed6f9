"""Where every stage writes, and what names each directory: for every job, the params it is given
and its directory's hash come from one dict (the job's params, plus the hashes of the directories
it reads), so they cannot drift apart, and a setting that changes a job's output always changes
its directory. Runtime settings that change no result (devices, threads, download retries) are
neither params nor hashed: jobs read them from the config.

`Paths` covers the data stages (download, references, filter, DEG, selection, split) and holds one
`ModelStagePaths` per model stage (generate, infer, embed): spec, settings, split, hashes,
directories, run folds, checks of requested targets, data inputs and the GPU request, with each
stage's extras (seeds and grids; landmark sets and predictions; sizes and imputation) in its
subclass. The `.smk` files only turn these into input functions and targets.

Imported by the Snakefile at parse time: standard library only (plus gexflow.config).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gexflow import config as cfg
from gexflow.config import section_hash
from gexflow.models.registry import CEILING, MODELS

try:  # inside Snakemake a stale request is a WorkflowError (one clean message); elsewhere a plain error
    from snakemake.exceptions import WorkflowError as _Base
except ImportError:  # pragma: no cover
    _Base = Exception


class PathRequestError(_Base):
    """A target that the current config does not produce (a stale hash, an unknown experiment)."""


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
REMOTE_URL_KEYS = {"embedded": [], "xena": ["xena_expression", "xena_clinical"], "gdc": ["gdc_data"],
                   "gtex": ["gtex_gct", "gtex_attributes"], "cgga": ["cgga_expression", "cgga_clinical"],
                   "geo": []}  # geo: the dataset's own `soft`, a local path or a URL
SOURCE_KEYS = ("kind", "source", "matrix", "samples", "cohort", "gdc_file_id", "tissues", "soft", "platform")
# What staging a single-cell genes x cells TSV as AnnData reads of the dataset entry.
STAGING_KEYS = ("gene_id_column", "gene_symbol_column", "sample_id_column", "categorical_covariates",
                "duplicate_gene_ids", "missing_values")
FILTER_SKIP = ("deg", "split", "description")  # dataset keys the filter does not read
DEG_DATASET_KEYS = ("condition_column", "patient_column", "scale")  # what call_degs reads of a dataset


def check_hash(expected: str, got: str, what: str) -> str:
    """Refuse to (re)build a directory whose hash is not the config's: outputs are only valid for
    the settings their hash names, and a stale hash requested by path would otherwise be rebuilt
    with the current settings under the old name."""
    if expected != got:
        raise PathRequestError(f"{what}: requested hash {got} does not match the current config ({expected}); old "
                               "stage directories are kept as they were, request the current targets instead")
    return expected


def check_dir(expected: str, requested: str, what: str) -> str:
    """Refuse a requested directory (its trailing `name-<hash>/...` parts) that is not the one the
    current config gives: the same rule as check_hash, for directories several hashes name."""
    if not expected.endswith(requested):
        raise PathRequestError(f"{what}: requested {requested} is not produced by the current config (it would be "
                               f"{expected}); old stage directories are kept as they were, request the current "
                               "targets instead")
    return expected


class Paths:
    """The data stages' directories and the three model stages (`generate`, `infer`, `embed`)."""

    def __init__(self, config: dict, config_name: str = "config"):
        self.config, self.config_name = config, config_name
        self.results = str(Path(config["results_dir"]))  # normalised: no trailing separator
        # the default folder keeps its logs in logs/; any other results_dir holds its own, so two
        # cohorts' runs never mix their logs
        self.logs = "logs" if self.results == "results" else f"{self.results}/logs"
        self.datasets = config["datasets"]
        self.sets = config["select"]["sets"]
        self.generate = GeneratePaths(self)
        self.infer = InferPaths(self)
        self.embed = EmbedPaths(self)

    def part(self, name, field: str) -> str:
        """A config name used as a directory: no name may lead a path outside the results directory."""
        if not SAFE_NAME.fullmatch(str(name)):
            raise PathRequestError(f"{self.config_name}: field '{field}': '{name}' cannot be part of a path. Fix: "
                                   "use letters, digits, '_' and '-' (starting with a letter or digit)")
        return str(name)

    def dataset(self, ds: str) -> dict:
        if ds not in self.datasets:
            raise PathRequestError(f"no dataset '{ds}' under `datasets`")
        return self.datasets[ds]

    # ---------------------------------------------------------------------------------- download
    def source_urls(self, ds: str) -> list[str]:
        """The concrete URLs a remote dataset downloads, with {cohort}/{file_id} filled in."""
        d = self.dataset(ds)
        if d["source"] == "geo":
            return [d["soft"]]
        fill = {"cohort": d.get("cohort", ""), "file_id": d.get("gdc_file_id", "")}
        return [self.config["download"]["urls"][k].format(**fill) for k in REMOTE_URL_KEYS[d["source"]]]

    def kegg_urls(self) -> list[str]:
        """KEGG REST: pathway ids + names, then every human pathway's Entrez members."""
        base = self.config["download"]["urls"]["kegg_rest"].rstrip("/")
        return [f"{base}/list/pathway/hsa", f"{base}/link/hsa/pathway"]

    def download_params(self, ds: str) -> dict:
        d = self.dataset(ds)
        urls = self.source_urls(ds)
        tsv_cells = d["kind"] == "single_cell" and d.get("samples")
        return {"source": {k: d.get(k) for k in SOURCE_KEYS}, "urls": urls, "tissues": d.get("tissues"),
                "checksums": {u: self.config["download"]["checksums"].get(u) for u in urls},
                "staging": {k: d.get(k) for k in STAGING_KEYS} if tsv_cells else {}}

    def download_hash(self, ds: str) -> str:
        return section_hash(self.download_params(ds))

    def download_dir(self, ds: str) -> str:
        return f"{self.results}/{self.part(ds, 'datasets')}/download-{self.dataset(ds)['source']}-" \
               f"{self.download_hash(ds)}"

    def references_params(self) -> dict:
        r = self.config["references"]
        if r["source"] == "embedded":
            return {"references": dict(r)}
        return {"source": r["source"], "entrez_map": r["entrez_map"], "kegg_urls": self.kegg_urls(),
                "l1000_urls": [self.config["download"]["urls"]["l1000_gene_info"]]}

    def references_hash(self) -> str:
        return section_hash(self.references_params())

    def references_dir(self) -> str:
        return f"{self.results}/references/download-{self.config['references']['source']}-{self.references_hash()}"

    # ------------------------------------------------------------------------------------ filter
    def filter_params(self, ds: str) -> dict:
        """What the filter reads: the dataset entry but its DEG and split overrides and description
        (sorted: reordering keys is no change), and its effective filter settings."""
        d, f = self.dataset(ds), self.config["filter"]
        if d["kind"] == "single_cell":
            settings = dict(f["single_cell"])
        else:
            settings = {k: f[k] for k in ("min_expression", "min_fraction", "min_library_size", "max_loss")}
            settings.update(d.get("filter", {}))
            if d.get("scale") == "log2_centred":  # its variance filter; other scales keep their hash
                settings.setdefault("min_variance", f.get("min_variance", 0.0))
            else:
                settings.pop("min_variance", None)
        return {"dataset": {k: v for k, v in sorted(d.items()) if k not in FILTER_SKIP}, "filter": settings}

    def filter_hash(self, ds: str) -> str:
        return section_hash(self.download_hash(ds), self.filter_params(ds))

    def filter_dir(self, ds: str) -> str:
        return f"{self.results}/{self.part(ds, 'datasets')}/filter-{self.filter_hash(ds)}"

    # --------------------------------------------------------------------------------------- DEG
    def deg_settings(self, ds: str) -> dict:
        """The `deg` section with the dataset's `deg` overrides (`datasets` only says where to run)."""
        merged = {k: v for k, v in self.config["deg"].items() if k != "datasets"}
        merged.update(self.dataset(ds).get("deg", {}))
        return merged

    def deg_params(self, ds: str) -> dict:
        d = self.dataset(ds)
        return {"dataset": {k: d.get(k) for k in DEG_DATASET_KEYS}, "deg": self.deg_settings(ds)}

    def deg_hash(self, ds: str) -> str:
        return section_hash(self.filter_hash(ds), self.deg_params(ds))

    def deg_dir(self, ds: str) -> str:
        return f"{self.results}/{self.part(ds, 'datasets')}/deg-{self.deg_hash(ds)}"

    # --------------------------------------------------------------------------------- selection
    def select_spec(self, name: str, ds: str) -> dict:
        """A set's settings as select_genes sees them (DEG sets carry the dataset's correction)."""
        if name not in self.sets:
            raise PathRequestError(f"no gene set '{name}' under `select.sets`")
        spec = {k: v for k, v in self.sets[name].items() if k != "datasets"}
        if spec["method"] == "deg":
            spec["correction"] = self.deg_settings(ds)["correction"]
        return spec

    def select_hash(self, ds: str, name: str) -> str:
        spec = self.select_spec(name, ds)
        method = spec["method"]
        if method in ("kegg", "l1000"):
            upstream = [self.filter_hash(ds), self.references_hash()]
        elif method == "deg":
            upstream = [self.deg_hash(ds)]
        elif method in ("gmt", "list"):  # the file itself is an input: an edit reruns the selection
            upstream = [self.filter_hash(ds)]
        else:
            upstream = [self.select_hash(ds, part) for part in spec["of"]]
        return section_hash(upstream, spec)

    def select_dir(self, ds: str, name: str) -> str:
        return f"{self.results}/{self.part(ds, 'datasets')}/select-{self.part(name, 'select.sets')}-" \
               f"{self.select_hash(ds, name)}"

    # ------------------------------------------------------------------------------------- split
    def split_params(self, ds: str, label, overrides: dict | None = None) -> dict:
        """What a split depends on besides the filtered data: the label, the patient column, the
        effective folds and validation fraction (`split`, the dataset's, the experiment's), the seed."""
        merged = cfg.effective_split(self.config, "split", {"dataset": ds, "split": overrides or {}})
        return {"label": [label] if isinstance(label, str) else list(label),
                "patient_column": self.dataset(ds).get("patient_column"), "folds": merged["folds"],
                "val_fraction": merged["val_fraction"], "seed": self.config["seed"]}

    def split_hash(self, ds: str, params: dict) -> str:
        return section_hash(self.filter_hash(ds), params)

    def split_file(self, ds: str, params: dict) -> str:
        return f"{self.results}/{self.part(ds, 'datasets')}/split-{self.split_hash(ds, params)}/split.tsv"

    def split_requests(self) -> dict:
        """(dataset, split hash) -> params of every split a running model-stage experiment reads."""
        out = {}
        for stage in (self.generate, self.infer, self.embed):
            for exp in stage.run:
                ds, params = stage.experiment(exp)["dataset"], stage.split_params(exp)
                out[(ds, self.split_hash(ds, params))] = params
        return out

    def split_request(self, ds: str, h: str) -> dict:
        params = self.split_requests().get((ds, h))
        if params is None:
            raise PathRequestError(f"split {h} of {ds} is not used by any experiment of the current config; "
                                   "request the current targets instead")
        return params


class ModelStagePaths:
    """One model stage's experiments: what each job reads and where it writes. Parameterised by
    the stage name, the experiment key naming its gene set, and the experiment keys that do not
    change its results."""

    stage = ""
    genes_key = "genes"
    spec_skip = ("settings", "models", "note", "description", "split")

    def __init__(self, paths: Paths):
        self.paths, self.config = paths, paths.config
        self.section = paths.config.get(self.stage) or {"run": []}
        self.experiments = self.section.get("experiments", {})
        self.run = list(self.section.get("run", []))

    def experiment(self, name: str) -> dict:
        if name not in self.experiments:
            raise PathRequestError(f"no experiment '{name}' under {self.stage}.experiments")
        return self.experiments[name]

    def spec(self, exp: str) -> dict:
        return {k: v for k, v in sorted(self.experiment(exp).items()) if k not in self.spec_skip}

    def split_params(self, exp: str) -> dict:
        e = self.experiment(exp)
        return self.paths.split_params(e["dataset"], e["label"], e.get("split"))

    def split_file(self, exp: str) -> str:
        return self.paths.split_file(self.experiment(exp)["dataset"], self.split_params(exp))

    def genes_hash(self, exp: str) -> str:
        e = self.experiment(exp)
        if e[self.genes_key] == "all":
            return self.paths.filter_hash(e["dataset"])
        return self.paths.select_hash(e["dataset"], e[self.genes_key])

    def experiment_hash(self, exp: str) -> str:
        return section_hash(self.genes_hash(exp), self.spec(exp), self.split_file(exp))

    def experiment_dir(self, exp: str) -> str:
        e = self.experiment(exp)
        return f"{self.paths.results}/{self.paths.part(e['dataset'], 'datasets')}/{self.stage}-" \
               f"{self.paths.part(exp, f'{self.stage}.experiments')}-{self.experiment_hash(exp)}"

    def run_folds(self) -> list[int]:
        return list(range(self.section["run_folds"]))

    def models(self, exp: str) -> list[str]:
        return list(self.experiment(exp).get("models", self.section.get("models", [])))

    def settings(self, exp: str, model: str) -> dict:
        """A model's effective settings in one experiment (its defaults, the stage's, the experiment's)."""
        return cfg.model_settings(self.config, self.stage, self.experiment(exp), model)

    def loop_for(self, model: str) -> dict | None:
        """The loop settings, for the models the shared loop trains (they change nothing else)."""
        return dict(self.section["loop"]) if MODELS[model].kind == "torch" else None

    def data_inputs(self, exp: str) -> dict:
        e = self.experiment(exp)
        inputs = {"h5ad": f"{self.paths.filter_dir(e['dataset'])}/filtered.h5ad", "split": self.split_file(exp)}
        if e[self.genes_key] != "all":
            inputs["genes"] = f"{self.paths.select_dir(e['dataset'], e[self.genes_key])}/genes.tsv"
        return inputs

    def check_request(self, wildcards) -> str:
        """The experiment a requested path names, after its hash is checked against the config."""
        exp = wildcards.experiment
        self.experiment(exp)
        check_hash(self.experiment_hash(exp), wildcards.experiment_hash, f"{self.stage} experiment {exp}")
        return exp

    def gpu(self, model: str) -> int:
        """Ask the scheduler for a GPU only where one will be used (a CPU-only workstation would
        otherwise run one training job at a time under the profile's gpu cap)."""
        device = self.section.get("device", "auto")
        if device == "cpu" or not MODELS[model].gpu:
            return 0
        return 1 if device == "cuda" or shutil.which("nvidia-smi") else 0

    def releases(self) -> list[str]:
        """Running experiments with a `release` (`release: {}` takes the stage's defaults)."""
        return [e for e in self.run if self.experiment(e).get("release") not in (None, False)]

    def job_dir(self, parent: str, name: str, *parts) -> str:
        """A job's directory under `parent`: `name-<hash of its params and upstream hashes>`."""
        return f"{parent}/{name}-{section_hash(*parts)}"


class GeneratePaths(ModelStagePaths):
    """Generators: one directory per model and generator seed (the first seed's hash is the model's
    plain hash) with fold_<k>/; a model with a grid trains every point in grid-<p>/fold_<k>/ and
    select_generator copies the point with the best validation score to fold_<k>/selected/."""

    stage = "generate"
    spec_skip = ModelStagePaths.spec_skip + ("seeds", "grid", "release")

    def seeds(self, exp: str) -> list[int]:
        return list(self.experiment(exp).get("seeds", self.section.get("seeds", [0])))

    def grid(self, exp: str, model: str) -> list[dict]:
        """The validation grid of a model ({setting: value} points), [{}] without one."""
        return cfg.model_grid(self.config, self.experiment(exp), model)

    def is_tuned(self, exp: str, model: str) -> bool:
        return len(self.grid(exp, model)) > 1

    def train_params(self, exp: str, model: str, seed=None, point: int | None = None) -> dict:
        """What train_generator reads (its params): the experiment, the model's settings (a grid
        point's for train_grid_point), the loop (torch models), the config seed, a later generator seed."""
        settings = self.settings(exp, model)
        if point is not None:
            settings = {**settings, **self.grid(exp, model)[point]}
        p = {"experiment": self.spec(exp), "settings": settings, "seed": self.config["seed"]}
        if MODELS[model].kind == "torch":
            p["loop"] = self.loop_for(model)
        if seed is not None and seed != self.seeds(exp)[0]:
            p["generator_seed"] = seed
        return p

    def model_hash(self, exp: str, model: str, seed=None) -> str:
        grid = [{"grid": self.grid(exp, model)}] if self.is_tuned(exp, model) else []
        return section_hash(self.experiment_hash(exp), model, self.train_params(exp, model, seed), *grid)

    def model_dir(self, exp: str, model: str, seed=None) -> str:
        return f"{self.experiment_dir(exp)}/{model}-{self.model_hash(exp, model, seed)}"

    def final_dir(self, exp: str, model: str, seed, fold: int) -> str:
        """Where a model's synthetic.h5ad, card and curve of one seed and fold are: fold_<k>/, or
        fold_<k>/selected/ (the grid point chosen on validation)."""
        d = f"{self.model_dir(exp, model, seed)}/fold_{fold}"
        return f"{d}/selected" if self.is_tuned(exp, model) else d

    def seed_of(self, exp: str, model: str, model_hash: str):
        for s in self.seeds(exp):
            if self.model_hash(exp, model, s) == model_hash:
                return s
        raise PathRequestError(f"{exp}/{model}: directory hash {model_hash} matches no seed of the current config; "
                               "run the default target")

    def ceiling_dir(self, exp: str) -> str:
        return f"{self.experiment_dir(exp)}/{CEILING}-{section_hash(self.experiment_hash(exp), CEILING)}"

    def evaluation_runs(self, exp: str, model: str) -> list[list[int]]:
        """(seed, fold) of each synthetic input of evaluate_generator, in order (the ceiling: one seed)."""
        seeds = self.seeds(exp)[:1] if model == CEILING else self.seeds(exp)
        return [[s, k] for s in seeds for k in self.run_folds()]

    def evaluation_params(self, exp: str, model: str) -> dict:
        return {"experiment": self.spec(exp), "runs": self.evaluation_runs(exp, model),
                "evaluation": dict(self.section["evaluation"]), "seed": self.config["seed"]}

    def evaluation_dir(self, exp: str, model: str) -> str:
        parent = self.ceiling_dir(exp) if model == CEILING else self.model_dir(exp, model)
        upstream = [] if model == CEILING else [self.model_hash(exp, model, s) for s in self.seeds(exp)]
        return self.job_dir(parent, "evaluation", upstream, self.evaluation_params(exp, model))

    def compare_params(self, exp: str) -> dict:
        return {"experiment": self.spec(exp), "models": self.models(exp), "note": self.experiment(exp).get("note", ""),
                "evaluation": dict(self.section["evaluation"])}

    def compare_dir(self, exp: str) -> str:
        evaluations = [self.evaluation_dir(exp, m) for m in [CEILING, *self.models(exp)]]
        return self.job_dir(self.experiment_dir(exp), "compare", evaluations, self.compare_params(exp))


    # -------------------------------------------------------------------------------- release
    def release_settings(self, exp: str) -> dict:
        return {**self.section["release"], **(self.experiment(exp).get("release") or {})}

    def refit_params(self, exp: str) -> dict:
        """What refit_generator reads: the choice (release.model, the holdout), every candidate's
        settings (the job refits the one chosen on validation), the loop, the seed."""
        r, d = self.release_settings(exp), self.paths.dataset(self.experiment(exp)["dataset"])
        return {"experiment": self.spec(exp), "models": self.models(exp),
                "release": {"model": r["model"], "holdout_fraction": r["holdout_fraction"]},
                "settings": {m: self.settings(exp, m) for m in self.models(exp)}, "loop": dict(self.section["loop"]),
                "patient_column": d.get("patient_column"), "input_scale": d["scale"], "seed": self.config["seed"]}

    def release_dir(self, exp: str) -> str:
        e = self.experiment(exp)
        models = [self.model_hash(exp, m, s) for m in self.models(exp) for s in self.seeds(exp)]
        return self.job_dir(f"{self.paths.results}/{self.paths.part(e['dataset'], 'datasets')}",
                            f"release-{self.paths.part(exp, 'generate.experiments')}", self.experiment_hash(exp),
                            models, self.refit_params(exp))

    def sample_params(self, exp: str) -> dict:
        """What sample_release reads: the request (n, per_class or a covariate table), the seed."""
        r = self.release_settings(exp)
        return {"n": r["n"], "per_class": r["per_class"], "covariates": r["covariates"],
                "seed": self.config["seed"] if r["seed"] is None else r["seed"],
                "audit_components": r["audit_components"]}

    def cohort_dir(self, exp: str) -> str:
        return self.job_dir(self.release_dir(exp), "cohort", self.sample_params(exp))


class InferPaths(ModelStagePaths):
    """Landmark inference: per landmark set (`landmarks`, and `learned` with learned landmarks) and
    model one directory with fold_<k>/, the learned sets in learned-<hash>/fold_<k>/, predictions
    of user matrices in predict-<name>-<hash>/."""

    stage = "infer"
    genes_key = "landmarks"
    spec_skip = ModelStagePaths.spec_skip + ("release",)

    def learned_on(self, exp: str) -> bool:
        return bool(self.experiment(exp).get("learned_landmarks", False))

    def landmark_sets(self, exp: str) -> list[str]:
        return ["landmarks"] + (["learned"] if self.learned_on(exp) else [])

    def learn_params(self, exp: str) -> dict:
        return {"experiment": self.spec(exp), "settings": cfg.learned_settings(self.config),
                "loop": dict(self.section["loop"]), "seed": self.config["seed"]}

    def learned_dir(self, exp: str) -> str:
        return self.job_dir(self.experiment_dir(exp), "learned", self.experiment_hash(exp), self.learn_params(exp))

    def train_params(self, exp: str, model: str) -> dict:
        p = {"experiment": self.spec(exp), "settings": self.settings(exp, model), "seed": self.config["seed"]}
        if MODELS[model].kind == "torch":
            p["loop"] = self.loop_for(model)
        return p

    def model_dir(self, exp: str, lmset: str, model: str) -> str:
        # learned landmarks change every model's targets (genes in neither set), so they enter the hash
        learned = self.learned_dir(exp) if self.learned_on(exp) else None
        return self.job_dir(f"{self.experiment_dir(exp)}/{lmset}", model, self.experiment_hash(exp), learned,
                            self.train_params(exp, model))

    def evaluation_params(self) -> dict:
        return {"folds": self.run_folds()}

    def evaluation_dir(self, exp: str, lmset: str, model: str) -> str:
        return self.job_dir(self.model_dir(exp, lmset, model), "evaluation", self.evaluation_params())

    def compare_params(self, exp: str) -> dict:
        return {}  # the models and landmark sets compared are named by the evaluation directories it reads

    def compare_dir(self, exp: str) -> str:
        evaluations = [self.evaluation_dir(exp, s, m) for s in self.landmark_sets(exp) for m in self.models(exp)]
        return self.job_dir(self.experiment_dir(exp), "compare", evaluations, self.compare_params(exp))

    def release_params(self, exp: str) -> dict:
        r = {**self.section["release"], **(self.experiment(exp).get("release") or {})}
        return {"experiment": self.spec(exp), "models": self.models(exp), "release": {"model": r["model"]},
                "settings": {m: self.settings(exp, m) for m in self.models(exp)}, "loop": dict(self.section["loop"]),
                "seed": self.config["seed"]}

    def release_dir(self, exp: str) -> str:
        models = [self.model_dir(exp, "landmarks", m) for m in self.models(exp)]
        return self.job_dir(self.experiment_dir(exp), "release", models, self.release_params(exp))

    def predictions(self) -> list[str]:
        """Predict jobs of running experiments."""
        return [n for n, p in self.section.get("predict", {}).items() if p["experiment"] in self.run]

    def predict_params(self, name: str) -> dict:
        if name not in self.section.get("predict", {}):
            raise PathRequestError(f"no predict job '{name}' under infer.predict")
        return {"spec": dict(self.section["predict"][name])}

    def predict_model(self, name: str) -> str:
        """The released model, or the named fold's model of the named model."""
        spec = self.predict_params(name)["spec"]
        if spec.get("fold") is None:
            return f"{self.release_dir(spec['experiment'])}/model.pt"
        return f"{self.model_dir(spec['experiment'], 'landmarks', spec['model'])}/fold_{spec['fold']}/model.pt"

    def predict_dir(self, name: str) -> str:
        exp = self.predict_params(name)["spec"]["experiment"]
        return self.job_dir(self.experiment_dir(exp), f"predict-{self.paths.part(name, 'infer.predict')}",
                            self.predict_model(name), self.predict_params(name))


class EmbedPaths(ModelStagePaths):
    """Factorized embeddings: per size one directory fe<size>d-<hash> with fold_<k>/ and its
    evaluation; one report per experiment; the real missing values imputed in impute-<hash>/."""

    stage = "embed"
    spec_skip = ModelStagePaths.spec_skip + ("sizes", "markers", "pathways", "impute_missing", "release")

    def sizes(self, exp: str) -> list[int]:
        return list(self.experiment(exp)["sizes"])

    def settings(self, exp: str, model: str = "factorized") -> dict:
        return cfg.model_settings(self.config, "embed", self.experiment(exp), "factorized")

    def train_params(self, exp: str) -> dict:
        return {"experiment": self.spec(exp), "settings": self.settings(exp), "loop": self.loop_for("factorized"),
                "seed": self.config["seed"]}

    def model_dir(self, exp: str, size) -> str:
        return self.job_dir(self.experiment_dir(exp), f"fe{int(size)}d", self.experiment_hash(exp), int(size),
                            self.train_params(exp))

    def evaluation_params(self, exp: str) -> dict:
        return {"experiment": self.spec(exp), "folds": self.run_folds(), "evaluation": dict(self.section["evaluation"]),
                "seed": self.config["seed"]}

    def evaluation_dir(self, exp: str, size) -> str:
        return self.job_dir(self.model_dir(exp, size), "evaluation", self.evaluation_params(exp))

    def report_params(self, exp: str) -> dict:
        e = self.experiment(exp)
        return {"experiment": self.spec(exp), "sizes": self.sizes(exp), "markers": e.get("markers", []),
                "pathways": e.get("pathways", [])}

    def report_dir(self, exp: str) -> str:
        evaluations = [self.evaluation_dir(exp, s) for s in self.sizes(exp)]
        return self.job_dir(self.experiment_dir(exp), "report", evaluations, self.report_params(exp))

    def release_params(self, exp: str) -> dict:
        r = {**self.section["release"], **(self.experiment(exp).get("release") or {})}
        return {"experiment": self.spec(exp), "sizes": self.sizes(exp), "release": {"size": r["size"]},
                "settings": self.settings(exp), "loop": self.loop_for("factorized"), "seed": self.config["seed"]}

    def release_dir(self, exp: str) -> str:
        models = [self.model_dir(exp, s) for s in self.sizes(exp)]
        return self.job_dir(self.experiment_dir(exp), "release", models, self.release_params(exp))

    def embed_new(self) -> list[str]:
        """embed_samples jobs of running experiments with a release."""
        return [n for n, p in self.section.get("embed_new", {}).items() if p["experiment"] in self.releases()]

    def embed_new_params(self, name: str) -> dict:
        if name not in self.section.get("embed_new", {}):
            raise PathRequestError(f"no embed_samples job '{name}' under embed.embed_new")
        return {"spec": dict(self.section["embed_new"][name]), "seed": self.config["seed"]}

    def embed_new_dir(self, name: str) -> str:
        exp = self.embed_new_params(name)["spec"]["experiment"]
        return self.job_dir(self.experiment_dir(exp), f"embed_new-{self.paths.part(name, 'embed.embed_new')}",
                            self.release_dir(exp), self.embed_new_params(name))

    def impute_params(self, exp: str) -> dict:
        e = self.experiment(exp)
        d = self.paths.dataset(e["dataset"])
        return {"experiment": self.spec(exp), "dataset": {"scale": d["scale"], "log_offset": d.get("log_offset")},
                "size": max(self.sizes(exp)), "settings": self.settings(exp), "loop": self.loop_for("factorized"),
                "seed": self.config["seed"]}

    def impute_dir(self, exp: str) -> str:
        e = self.experiment(exp)
        return self.job_dir(self.experiment_dir(exp), "impute", self.experiment_hash(exp),
                            self.paths.download_hash(e["dataset"]), self.impute_params(exp))
