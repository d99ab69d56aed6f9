"""Each trainable model's settings as a typed, frozen dataclass: the one list of the keys a model
reads, their types, bounds and defaults. The config checks validate every settings block (global,
per experiment, each grid point) against it; the schema's settings blocks are tested against it
(tests/test_config_checks.py), and so are the keyword arguments of ctgan.CTGAN / ctgan.TVAE.

Imported by the Snakefile at parse time: standard library only.

A field's bounds live in its metadata: `ge` / `gt` / `le` / `lt` (JSON schema minimum /
exclusiveMinimum / maximum / exclusiveMaximum) apply to a number, or to each item of a list;
`min_items` / `max_items` to a list's length; `multiple_of` to an integer.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from gexflow.errors import InputError

_BOUNDS = ("ge", "gt", "le", "lt", "min_items", "max_items", "multiple_of")


def _f(default=dataclasses.MISSING, **bounds):
    """A dataclass field with bounds in its metadata (see the module docstring)."""
    unknown = set(bounds) - set(_BOUNDS)
    if unknown:  # pragma: no cover - a typo in this file
        raise TypeError(f"unknown bound {unknown}")
    return field(default=default, metadata=bounds)


# ------------------------------------------------------------------------------------ generate
@dataclass(frozen=True)
class WGANGPSettings:
    """generate.settings.wgan_gp: models/wgan_gp.py and the shared loop (epochs)."""

    epochs: int = _f(ge=1)
    z_dim: int = _f(64, ge=1)
    generator_hidden: tuple[int, ...] = _f((256, 256), min_items=1, ge=1)
    critic_hidden: tuple[int, ...] = _f((256, 256), min_items=1, ge=1)
    optimiser: Literal["adam", "rmsprop"] = "adam"
    betas: tuple[float, ...] = _f((0.0, 0.9), min_items=2, max_items=2, ge=0, lt=1)
    lr_generator: float = _f(5.0e-4, gt=0, le=1)
    lr_critic: float = _f(5.0e-4, gt=0, le=1)
    n_critic: int = _f(5, ge=1, le=20)
    gp_lambda: float = _f(10, ge=0)
    batch_size: int = _f(32, ge=2)


@dataclass(frozen=True)
class CVAESettings:
    """generate.settings.cvae: models/cvae.py."""

    epochs: int = _f(ge=1)
    latent_dim: int = _f(16, ge=1)
    hidden: tuple[int, ...] = _f((256, 128), min_items=1, ge=1)
    dropout: float = _f(0.1, ge=0, lt=1)
    batchnorm: bool = True
    beta: float = _f(1.0, ge=0)
    warmup_epochs: int = _f(50, ge=0)
    decoder_noise: Literal["learned", "fixed"] = "learned"
    noise_sd: float = _f(0.5, gt=0)
    lr: float = _f(1.0e-3, gt=0, le=1)
    weight_decay: float = _f(0.0, ge=0)
    batch_size: int = _f(32, ge=2)


@dataclass(frozen=True)
class DiffusionSettings:
    """generate.settings.diffusion: models/diffusion.py."""

    epochs: int = _f(ge=1)
    timesteps: int = _f(1000, ge=2)
    sample_steps: int = _f(50, ge=1)
    prediction: Literal["x0", "eps"] = "x0"
    hidden: tuple[int, ...] = _f((512, 512), min_items=1, ge=1)
    time_dim: int = _f(64, ge=2)
    dropout: float = _f(0.0, ge=0, lt=1)
    cond_dropout: float = _f(0.1, ge=0, le=1)
    guidance: tuple[float, ...] = _f((0.0, 0.5, 1.0), min_items=1, ge=0)
    clip: float = _f(6.0, gt=0)
    lr: float = _f(1.0e-3, gt=0, le=1)
    weight_decay: float = _f(0.0, ge=0)
    batch_size: int = _f(64, ge=2)


@dataclass(frozen=True)
class GaussianSettings:
    """generate.settings.gaussian: models/peers.py ClassConditionalGaussian."""

    min_class: int = _f(3, ge=2)


@dataclass(frozen=True)
class ShuffledSettings:
    """generate.settings.shuffled: no settings."""


@dataclass(frozen=True)
class CTGANSettings:
    """generate.settings.ctgan: keyword arguments of ctgan.CTGAN (ctgan 0.12.1) but `enable_gpu`
    and `cuda`, which gexflow sets from generate.device. Only the keywords given are passed (the
    library's defaults, written here, apply to the others)."""

    library: ClassVar[str] = "ctgan.CTGAN"
    embedding_dim: int = _f(128, ge=1)
    generator_dim: tuple[int, ...] = _f((256, 256), ge=1)
    discriminator_dim: tuple[int, ...] = _f((256, 256), ge=1)
    generator_lr: float = _f(2e-4, gt=0)
    generator_decay: float = _f(1e-6, ge=0)
    discriminator_lr: float = _f(2e-4, gt=0)
    discriminator_decay: float = _f(1e-6, ge=0)
    batch_size: int = _f(500, ge=2, multiple_of=2)
    discriminator_steps: int = _f(1, ge=1)
    log_frequency: bool = True
    verbose: bool = False
    epochs: int = _f(300, ge=1)
    pac: int = _f(10, ge=1)


@dataclass(frozen=True)
class TVAESettings:
    """generate.settings.tvae: keyword arguments of ctgan.TVAE (ctgan 0.12.1) but `enable_gpu`
    and `cuda`. Only the keywords given are passed."""

    library: ClassVar[str] = "ctgan.TVAE"
    embedding_dim: int = _f(128, ge=1)
    compress_dims: tuple[int, ...] = _f((128, 128), ge=1)
    decompress_dims: tuple[int, ...] = _f((128, 128), ge=1)
    l2scale: float = _f(1e-5, ge=0)
    batch_size: int = _f(500, ge=1)
    epochs: int = _f(300, ge=1)
    loss_factor: float = _f(2, gt=0)
    verbose: bool = False


# --------------------------------------------------------------------------------------- infer
@dataclass(frozen=True)
class LinearSettings:
    """infer.settings.linear: least squares, no settings."""


@dataclass(frozen=True)
class RidgeSettings:
    """infer.settings.ridge: penalties tried, the lowest validation MAE wins."""

    alphas: tuple[float, ...] = _f((1, 3, 10, 30, 100, 300, 1000, 3000, 10000), min_items=1, gt=0)


@dataclass(frozen=True)
class KNNSettings:
    """infer.settings.knn: neighbour counts tried, the lowest validation MAE wins."""

    ks: tuple[int, ...] = _f((1, 2, 3, 5, 10, 20, 40), min_items=1, ge=1)


@dataclass(frozen=True)
class DGEXSettings:
    """infer.settings.dgex_mlp and .dgex_residual: models/regression.py DGEXRegressor and
    stages/infer.py (loss, base, alphas; dgex_residual always runs with base: ridge)."""

    epochs: int = _f(ge=1)
    hidden: tuple[int, ...] = _f((1000,), ge=1)
    activation: Literal["tanh", "relu"] = "tanh"
    dropout: float = _f(0.1, ge=0, lt=1)
    optimiser: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = _f(1.0e-3, gt=0, le=1)
    momentum: float = _f(0.9, ge=0, lt=1)
    weight_decay: float = _f(0.0, ge=0)
    lr_schedule: Literal["none", "cosine"] = "none"
    batch_size: int = _f(64, ge=2)
    loss: Literal["mse", "weighted_mse"] = "mse"
    base: Literal["none", "ridge", "ridge_blend"] = "none"
    alphas: tuple[float, ...] = _f((1, 3, 10, 30, 100, 300, 1000, 3000, 10000), min_items=1, gt=0)
    input_dropout: float = _f(0.0, ge=0, lt=1)


@dataclass(frozen=True)
class LearnedSettings(DGEXSettings):
    """infer.learned: the group-lasso MLP over landmarks + candidate targets (GroupLassoMLP, a
    DGEXRegressor) and the landmark choice of stages/infer.py (group_lasso, k)."""

    group_lasso: float | tuple[float, ...] = _f(0.0, min_items=1, ge=0)
    k: int | None = _f(None, ge=1)


# --------------------------------------------------------------------------------------- embed
@dataclass(frozen=True)
class FactorizedSettings:
    """embed.settings: models/embedding.py FactorizedEmbedding and stages/embed.py (the sample
    embedding size, `sample_dim`, comes from the experiment's `sizes`)."""

    epochs: int = _f(30, ge=1)
    gene_dim: int = _f(20, ge=1)
    hidden: tuple[int, ...] = _f((50,), min_items=1, ge=1)
    activation: Literal["tanh", "relu"] = "tanh"
    optimiser: Literal["adam", "rmsprop"] = "adam"
    lr: float = _f(0.01, gt=0, le=1)
    batch_size: int = _f(8192, ge=1)
    init_sd: float = _f(0.1, gt=0)
    scale: Literal["zscore", "log2"] = "zscore"
    mask_fraction: float = _f(0.05, gt=0, le=0.5)
    new_sample_epochs: int = _f(5, ge=0)
    new_sample_lr: float = _f(0.01, gt=0, le=1)


SETTINGS: dict[str, type] = {
    "wgan_gp": WGANGPSettings,
    "cvae": CVAESettings,
    "diffusion": DiffusionSettings,
    "ctgan": CTGANSettings,
    "tvae": TVAESettings,
    "gaussian": GaussianSettings,
    "shuffled": ShuffledSettings,
    "linear": LinearSettings,
    "ridge": RidgeSettings,
    "knn": KNNSettings,
    "dgex_mlp": DGEXSettings,
    "dgex_residual": DGEXSettings,
    "learned": LearnedSettings,  # infer.learned (not a registry model: the learned-landmark step)
    "factorized": FactorizedSettings,  # embed.settings
}


# ------------------------------------------------------------------------------------- queries
def names(model: str) -> list[str]:
    """The settings a model takes, in declaration order."""
    return [f.name for f in dataclasses.fields(SETTINGS[model])]


def library(model: str) -> str | None:
    """The library class whose keyword arguments the settings are (ctgan, tvae), else None."""
    return getattr(SETTINGS[model], "library", None)


def defaults(model: str) -> dict:
    """{setting: default} of the settings that have one, lists as lists (as YAML gives them)."""
    out = {}
    for f in dataclasses.fields(SETTINGS[model]):
        if f.default is not dataclasses.MISSING:
            out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    return out


def required(model: str) -> list[str]:
    return [f.name for f in dataclasses.fields(SETTINGS[model]) if f.default is dataclasses.MISSING]


def field_type(model: str, name: str):
    """The resolved type annotation of one setting."""
    return typing.get_type_hints(SETTINGS[model])[name]


def bounds(model: str, name: str) -> dict:
    return dict(next(f for f in dataclasses.fields(SETTINGS[model]) if f.name == name).metadata)


# --------------------------------------------------------------------------------------- check
def yaml_text(v) -> str:
    """A value as it would be written in YAML (floats with a decimal point before any exponent)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, float):
        s = repr(v)
        mant, e, exp = s.partition("e")
        return f"{mant}.0e{exp}" if e and "." not in mant else s
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(yaml_text, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def _kind(v) -> str:
    """What a YAML value is, with its article."""
    if v is None:
        return "null"
    for t, word in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                    ((list, tuple), "a list"), (dict, "a mapping")):
        if isinstance(v, t):
            return word
    return f"a {type(v).__name__}"


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_literal(tp) -> bool:
    return typing.get_origin(tp) is Literal


def _describe(tp) -> str:
    """The type a setting takes, in words."""
    if _is_union(tp):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if _is_literal(tp):
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return {int: "a list of integers", float: "a list of numbers"}.get(item, f"a list of {_describe(item)}")
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _matches(tp, v) -> bool:
    """Does value `v` (as YAML gives it) have type `tp`? A boolean is not a number."""
    if _is_union(tp):
        return any(_matches(a, v) for a in typing.get_args(tp))
    if tp is type(None):
        return v is None
    if _is_literal(tp):
        return isinstance(v, str) and v in typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return isinstance(v, (list, tuple)) and all(_matches(item, x) for x in v)
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, tp)


def _literal_of(tp):
    """The Literal of a type (itself, or the Literal member of a union), else None."""
    if _is_literal(tp):
        return tp
    return next((a for a in typing.get_args(tp) if _is_literal(a)), None) if _is_union(tp) else None


def _bound_words(b: dict) -> str:
    words = [f"{op} {yaml_text(b[k])}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
             if k in b]
    if "multiple_of" in b:
        words.append(f"a multiple of {b['multiple_of']}")
    return " and ".join(words)


def _out_of_bounds(v, b: dict) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return (("ge" in b and v < b["ge"]) or ("gt" in b and v <= b["gt"]) or ("le" in b and v > b["le"])
            or ("lt" in b and v >= b["lt"])
            or ("multiple_of" in b and isinstance(v, int) and v % b["multiple_of"] != 0))


def _number_in(text: str):
    """The number a quoted value such as '3' or '1e-3' spells, else None."""
    for conv in (int, float):
        try:
            return conv(text.strip())
        except ValueError:
            pass
    return None


def _shown_default(f) -> str:
    return "" if f.default is dataclasses.MISSING else f" (default {yaml_text(f.default)})"


def _type_error(key: str, tp, v, f) -> tuple[str, str]:
    """(problem, fix) of a value of the wrong type."""
    lit = _literal_of(tp)
    if lit is not None and isinstance(v, str):
        choices = list(typing.get_args(lit))
        close = difflib.get_close_matches(v, choices, n=1, cutoff=0.5)
        return (f"'{v}' is not one of {', '.join(choices)}",
                (f"did you mean '{close[0]}'? " if close else "") + f"{key} takes {_describe(tp)}{_shown_default(f)}")
    members = typing.get_args(tp) if _is_union(tp) else (tp,)
    listed = next((a for a in members if typing.get_origin(a) is tuple), None)  # the list type it takes, if any
    if listed is not None and isinstance(v, (list, tuple)):
        bad = next(x for x in v if not _matches(typing.get_args(listed)[0], x))
        problem = f"{yaml_text(v)} holds {yaml_text(bad)}, {_kind(bad)}; {key} takes {_describe(tp)}"
    else:
        problem = f"{yaml_text(v)} is {_kind(v)}; {key} takes {_describe(tp)}"
    if listed is not None and _matches(typing.get_args(listed)[0], v):
        return problem, f"write a list: `{key}: [{yaml_text(v)}]`"
    if isinstance(v, str):
        num = _number_in(v)
        if num is not None and _matches(tp, num):
            mant, e, exp = v.strip().lower().partition("e")
            if e and "." not in mant:
                return problem, (f"write `{key}: {mant}.0e{exp}` (YAML reads a number with an exponent but no "
                                 "decimal point as text)")
            return problem, f"write `{key}: {v.strip()}` without quotes"
    example = f.default if f.default is not dataclasses.MISSING else {int: 100, float: 0.001}.get(tp, "...")
    return problem, f"give {key} {_describe(tp)}, e.g. `{key}: {yaml_text(example)}`"


def _count(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def check_settings(model: str, values: dict, where: str, config_file: str) -> None:
    """Raise InputError(config_file, f"{where}.{key}", problem, fix) at the first key of `values`
    that `model` does not take, or whose value has the wrong type or lies out of bounds.
    `where` is the config path of the block as the user wrote it (generate.settings.wgan_gp,
    generate.experiments.kirc_rcc.settings.wgan_gp, generate.grid.diffusion, ...). Required
    settings are not checked here: an experiment's block overrides the global one."""
    cls = SETTINGS[model]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if values is None:
        values = {}
    if not isinstance(values, dict):
        example = f"{{{next(iter(fields))}: ...}}" if fields else "{}"
        raise InputError(config_file, where, f"{yaml_text(values)} is {_kind(values)}, not a mapping of settings",
                         f"write `{model}: {example}` (settings by name)")
    hints = typing.get_type_hints(cls)
    lib = library(model)
    listing = (f"keyword arguments of {lib}: " if lib else f"valid settings of {model}: ") + ", ".join(fields)
    for key, v in values.items():
        field_name = f"{where}.{key}"
        if key not in fields:
            if not fields:
                raise InputError(config_file, field_name, f"unknown setting '{key}' of {model}",
                                 f"remove it: {model} has no settings (write `{model}: {{}}`)")
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "remove it or correct its name;"
            raise InputError(config_file, field_name, f"unknown setting '{key}' of {model}", f"{hint} {listing}")
        f, tp = fields[key], hints[key]
        if not _matches(tp, v):
            raise InputError(config_file, field_name, *_type_error(key, tp, v, f))
        b = dict(f.metadata)
        items = list(v) if isinstance(v, (list, tuple)) else None
        if items is not None:
            lo, hi = b.get("min_items"), b.get("max_items")
            if (lo is not None and len(items) < lo) or (hi is not None and len(items) > hi):
                n = f"exactly {_count(lo)}" if lo == hi else f"at least {_count(lo)}" if lo is not None \
                    and len(items) < lo else f"at most {_count(hi)}"
                raise InputError(config_file, field_name, f"{yaml_text(v)} has {_count(len(items))}; {key} takes "
                                 f"{n}", f"give {key} {n}{_shown_default(f)}")
        for x in items if items is not None else [v]:
            if _out_of_bounds(x, b):
                what = f"{yaml_text(x)} in {key}" if items is not None else f"{key} {yaml_text(x)}"
                nullable = _is_union(tp) and type(None) in typing.get_args(tp)
                kind = _describe(typing.Union[tuple(a for a in typing.get_args(tp) if a is not type(None))]) \
                    if nullable else _describe(tp)
                raise InputError(config_file, field_name, f"{what} is out of range; {key} takes {kind} "
                                 f"{'each ' if items is not None else ''}{_bound_words(b)}"
                                 f"{' (or null)' if nullable else ''}",
                                 (f"make each value of {key} {_bound_words(b)}" if items is not None
                                  else f"set {key} to a value {_bound_words(b)}") + _shown_default(f))
