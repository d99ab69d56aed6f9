"""The one training loop of gexflow: device choice, seeding, progress in the log, checkpoints
every N epochs with resume after an interruption, early stopping, and checkpoint choice on the
validation split only (the loop is never given test data).

A model plugs in by implementing `Trainable` (its modules and optimisers, saved in checkpoints,
and one training epoch over a data object of its own kind); the stage passes a `validate`
callback that scores it on the validation split, and says whether that metric is maximised
(validation gamma of a generator) or minimised (validation MAE of a regressor).
All of the loop's randomness comes from one CPU `torch.Generator` whose state is checkpointed,
so a resumed run continues exactly where an uninterrupted one would have been.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import random
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd
import torch

from gexflow.errors import InputError

log = logging.getLogger("gexflow.training")
CHECKPOINT = "last.pt"


def select_device(requested: str = "auto", field: str = "generate.device") -> torch.device:
    """CUDA when present (auto) or asked for; CPU otherwise. `field` names the config key."""
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        raise InputError("config", field, "cuda requested but torch sees no CUDA device",
                         "use device: auto (falls back to CPU) or run on a GPU node")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the CPU generator the loop draws from."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@dataclass
class Batches:
    """Training data of a conditional generator on the device: expression (z-scores) and encoded
    covariates. Other models bring their own data object: the loop only hands it to `train_epoch`."""

    x: torch.Tensor
    codes: torch.Tensor
    nums: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = idx.to(self.x.device)
        return self.x[idx], self.codes[idx], self.nums[idx]


class Trainable(Protocol):
    """What the loop needs of a model: its modules and optimisers (checkpointed) and one epoch."""

    modules: dict[str, torch.nn.Module]
    optimisers: dict[str, torch.optim.Optimizer]

    def train_epoch(self, data, gen: torch.Generator, epoch: int) -> dict[str, float]: ...


# validate(model, gen) -> the validation metric; called in eval mode under torch.no_grad, with a
# generator of its own so that the evaluation schedule does not change the training trajectory.
Validate = Callable[[Trainable, torch.Generator], float]


@dataclass
class LoopSettings:
    epochs: int
    eval_every: int = 10
    checkpoint_every: int = 50
    patience: int = 10  # evaluations without a better validation score before stopping; 0 = never stop early
    min_epochs: int = 0  # no early stop before this epoch


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    epochs_run: int
    stopped_early: bool
    resumed_from: int | None
    history: pd.DataFrame
    seconds: float  # the whole fit, time before a resume included
    seconds_to_best: float
    best_state: dict = field(repr=False, default_factory=dict)
    metric: str = "score"
    maximise: bool = True

    @property
    def card(self) -> dict:
        """The model card's account of training and selection."""
        return {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "resumed_from": self.resumed_from, "validation": {self.metric: self.best_score},
                "selection": f"{'highest' if self.maximise else 'lowest'} validation {self.metric} "
                             "(validation split only)"}


def _rng_state() -> dict:
    """Every RNG's state as plain data (lists, numbers, tensors), loadable with weights_only=True."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(cached)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(obj, dest: Path) -> None:
    from gexflow.io import atomic_path

    with atomic_path(dest) as tmp:  # a kill mid-save leaves the previous checkpoint intact
        torch.save(obj, tmp)


def _random_state(state: tuple) -> np.random.RandomState:
    rs = np.random.RandomState(0)
    rs.set_state(state)
    return rs


class _ReproduciblePickler(pickle.Pickler):
    """Pickle a legacy RandomState by its state alone: an unseeded-then-set RandomState (rdt's
    transformers in CTGAN/TVAE make them) also pickles a random, unused SeedSequence."""

    def reducer_override(self, obj):
        if type(obj) is np.random.RandomState:
            return _random_state, (obj.get_state(),)
        return NotImplemented


_REPRODUCIBLE_PICKLE = types.SimpleNamespace(__name__="gexflow_pickle", Pickler=_ReproduciblePickler)


def model_bytes(obj) -> bytes:
    """torch.save archive of `obj` that is byte-identical for identical content.

    torch >= 2.4 writes a random `.data/serialization_id` into every archive, so two runs of the
    same config would give different model.pt files. Replace the ID (same length, so no offset
    moves) by digits of the sha256 of the other bytes and patch its CRC-32 in the local and the
    central headers; torch.load and zipfile both check the result."""
    import hashlib
    import io
    import struct
    import zipfile
    import zlib

    buf = io.BytesIO()
    torch.save(obj, buf, pickle_module=_REPRODUCIBLE_PICKLE)
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        infos = [i for i in zf.infolist() if i.filename.endswith(".data/serialization_id")]
        central = zf.start_dir  # offset of the central directory
    if not infos:
        return bytes(data)
    info = infos[0]
    name = info.filename.encode()
    n_name, n_extra = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + n_name + n_extra
    old = bytes(data[start:start + info.file_size])
    rest = bytes(data[:start]) + bytes(data[start + info.file_size:])
    digits = str(int(hashlib.sha256(rest).hexdigest(), 16))
    new = (digits * (len(old) // len(digits) + 1))[:len(old)].encode()
    data[start:start + len(old)] = new
    crc = zlib.crc32(new) & 0xFFFFFFFF
    struct.pack_into("<I", data, info.header_offset + 14, crc)
    if info.flag_bits & 0x08:  # a data descriptor after the data repeats the CRC
        at = start + info.compress_size
        struct.pack_into("<I", data, at + 4 if bytes(data[at:at + 4]) == b"PK\x07\x08" else at, crc)
    while central != -1:
        n_name = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + n_name]) == name:
            struct.pack_into("<I", data, central + 16, crc)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        bad = zf.testzip()
    if bad is not None:
        raise RuntimeError(f"model archive failed its CRC check at {bad}")
    return bytes(data)


def plain(obj):
    """`obj` with numpy arrays as tensors and numpy scalars as Python numbers (recursively), so
    that torch.load(weights_only=True) can read it back: nothing in a gexflow model file is code."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return type(obj)((k, plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return obj


def save_model(obj, dest: str | os.PathLike, *, pickled: bool = False) -> None:
    """Write the final model atomically and reproducibly (see model_bytes), with its sha256 beside
    it. `obj` must be plain data (tensors, numbers, strings, lists, dicts; numpy arrays are
    converted) unless `pickled`: a library object (CTGAN) that only load_pickled_model reads back,
    after checking that sha256."""
    from gexflow.io import atomic_path, write_sidecar

    data = model_bytes(obj if pickled else plain(obj))
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    write_sidecar(dest, data)


def load_model(path, device="cpu") -> dict:
    """A gexflow model file read with weights_only=True (tensors and plain data only, so loading
    runs no code), after its sha256 record is checked. A file that holds anything else is refused
    with one line."""
    import pickle

    from gexflow.io import verify_sidecar

    verify_sidecar(path, producer="the rule that trained it", required=False)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
        raise InputError(path, "(whole file)", "cannot be loaded safely: it holds Python objects other than "
                         f"tensors and plain data, or is damaged ({type(e).__name__}: {str(e).splitlines()[0][:200]})",
                         "use a model.pt written by gexflow (never one of unknown origin); rebuild it with "
                         "`snakemake --forcerun <its training rule>`") from None


def load_pickled_model(path, device="cpu"):
    """A model that exists only as a library pickle (CTGAN, TVAE): loaded only when the file's
    sha256 matches the record the job that wrote it left beside it (nothing else is unpickled)."""
    from gexflow.io import verify_sidecar

    verify_sidecar(path, producer="the rule that trained it", required=True)
    return torch.load(path, map_location=device, weights_only=False)


def _load_checkpoint(path: Path, device) -> dict | None:
    """The checkpoint at `path`, or None when it cannot be read: a truncated or corrupted file is
    moved aside (kept for inspection) and training starts from scratch instead of failing on
    every rerun. weights_only=True: a checkpoint is tensors and plain data, never code."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises several types for a damaged or unsafe archive
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("checkpoint %s cannot be loaded (%s: %s); moved it to %s and training from scratch",
                    path, type(e).__name__, e, aside.name)
        return None


def fit(model: Trainable, train_data, validate: Validate, *, settings: LoopSettings, gen: torch.Generator,
        maximise: bool = True, metric_name: str = "score", checkpoint_dir: str | os.PathLike | None = None,
        fingerprint: str = "", on_epoch_end: Callable[[int], None] | None = None) -> FitResult:
    """Train `model` on `train_data` (whatever its `train_epoch` takes). Every `eval_every` epochs
    `validate(model, gen)` scores it on the validation split (higher is better when `maximise`,
    else lower); the best state is kept and restored at the end. `fingerprint` (config + code
    hash) guards resume: a checkpoint written under other settings is ignored."""
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir else None
    base_seed = int(gen.initial_seed())
    worst = -np.inf if maximise else np.inf
    better = (lambda a, b: a > b) if maximise else (lambda a, b: a < b)  # noqa: E731 (NaN is never better)
    column = f"val_{metric_name}"
    history: list[dict] = []
    best_score, best_epoch, best_state, since_best = worst, 0, None, 0
    start_epoch, resumed_from, elapsed_before, seconds_to_best = 1, None, 0.0, 0.0
    ck = _load_checkpoint(ckpt_path, getattr(model, "device", "cpu")) \
        if ckpt_path is not None and ckpt_path.exists() else None
    if ck is not None:
        if ck.get("fingerprint") == fingerprint and ck.get("metric") == (metric_name, maximise):
            for k, m in model.modules.items():
                m.load_state_dict(ck["modules"][k])
            for k, o in model.optimisers.items():
                o.load_state_dict(ck["optimisers"][k])
            history, best_score, best_epoch = ck["history"], ck["best_score"], ck["best_epoch"]
            best_state, since_best, elapsed_before = ck["best_state"], ck["since_best"], ck["elapsed"]
            seconds_to_best = ck["seconds_to_best"]
            gen.set_state(ck["generator"])
            _set_rng_state(ck["rng"])
            start_epoch = resumed_from = ck["epoch"] + 1
            log.info("resuming from %s at epoch %d", ckpt_path, start_epoch)
        else:
            log.info("ignoring %s: written under other settings or code", ckpt_path)
    t0 = time.perf_counter() - elapsed_before
    stopped = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, settings.epochs + 1):
        for m in model.modules.values():
            m.train()
        losses = model.train_epoch(train_data, gen, epoch)
        row = {"epoch": epoch, **losses, column: np.nan, "seconds": time.perf_counter() - t0}
        if epoch % settings.eval_every == 0 or epoch == settings.epochs:
            for m in model.modules.values():
                m.eval()  # dropout off, batch-norm running statistics
            with torch.no_grad():
                s = float(validate(model, _eval_generator(base_seed, epoch)))
            row[column] = s
            if better(s, best_score):
                best_score, best_epoch, since_best = s, epoch, 0
                best_state = {k: copy.deepcopy(m.state_dict()) for k, m in model.modules.items()}
                seconds_to_best = row["seconds"]
            else:
                since_best += 1
            log.info("epoch %d/%d %s %s %.4f (best %.4f at %d)", epoch, settings.epochs,
                     " ".join(f"{k} {v:.4g}" for k, v in losses.items()), column, s, best_score, best_epoch)
            if settings.patience and since_best >= settings.patience and epoch >= settings.min_epochs:
                stopped = True
        history.append(row)
        if ckpt_path is not None and (epoch % settings.checkpoint_every == 0 or stopped) and _finite(model):
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            _save({"fingerprint": fingerprint, "metric": (metric_name, maximise), "epoch": epoch,
                   "history": history, "modules": {k: m.state_dict() for k, m in model.modules.items()},
                   "optimisers": {k: o.state_dict() for k, o in model.optimisers.items()},
                   "best_score": best_score, "best_epoch": best_epoch, "best_state": best_state,
                   "since_best": since_best, "elapsed": time.perf_counter() - t0,
                   "seconds_to_best": seconds_to_best, "generator": gen.get_state(), "rng": _rng_state()},
                  ckpt_path)
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if stopped:
            log.info("early stop at epoch %d: no better validation %s in %d evaluations", epoch, metric_name,
                     settings.patience)
            break
    if best_state is None:
        raise RuntimeError(f"training produced no finite validation {metric_name}; lower the learning rate")
    for k, m in model.modules.items():
        m.load_state_dict(best_state[k])
        m.eval()
    return FitResult(best_epoch=best_epoch, best_score=best_score, epochs_run=epoch, stopped_early=stopped,
                     resumed_from=resumed_from, history=pd.DataFrame(history), seconds=time.perf_counter() - t0,
                     seconds_to_best=seconds_to_best, best_state=best_state, metric=metric_name, maximise=maximise)


def _finite(model: Trainable) -> bool:
    """Whether every weight is finite: a diverged model is never checkpointed, so a rerun does not
    resume from NaN weights."""
    ok = all(torch.isfinite(p).all() for m in model.modules.values() for p in m.state_dict().values()
             if torch.is_floating_point(p))
    if not ok:
        log.warning("weights are not finite: no checkpoint written")
    return bool(ok)


def _eval_generator(base_seed: int, epoch: int) -> torch.Generator:
    """A generator for validation sampling that does not advance the training stream, so the
    evaluation schedule does not change the training trajectory."""
    g = torch.Generator()
    g.manual_seed((base_seed * 1_000_003 + epoch) % 2**63)
    return g


# ------------------------------------------------------------------------------ the one training job
@dataclass
class Trainer:
    """How a task trains its models: the loop settings, the device, and where checkpoints go under
    which fingerprint (no `checkpoint_dir`: in memory only, as in unit tests). Tasks call `fit`;
    `tag` separates several fits of one job (one per group-lasso lambda) in checkpoints/<tag>/."""

    loop: dict = field(default_factory=dict)
    device: str = "auto"
    device_field: str = "generate.device"
    checkpoint_dir: Path | None = None
    fingerprint: str = ""
    on_epoch_end: Callable[[int], None] | None = None

    def torch_device(self) -> torch.device:
        return select_device(self.device, self.device_field)

    def generator(self, seed: int) -> torch.Generator:
        """Seed everything for one model's training and return the loop's generator."""
        return seed_everything(seed)

    def fit(self, model: Trainable, data, validate: Validate, *, epochs: int, gen: torch.Generator,
            maximise: bool, metric: str, tag: str | None = None) -> FitResult:
        ckpt = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / (tag or "")
        return fit(model, data, validate, settings=LoopSettings(epochs=epochs, **self.loop), gen=gen,
                   maximise=maximise, metric_name=metric, checkpoint_dir=ckpt,
                   fingerprint=f"{self.fingerprint}/{tag}" if tag else self.fingerprint,
                   on_epoch_end=self.on_epoch_end)


@dataclass
class Trained:
    """What a training task hands back to the job: the model card, the training curve, the model
    state (model.pt; None for a job without one) and any other outputs by output name (AnnData ->
    .h5ad, DataFrame -> .tsv / .tsv.gz)."""

    card: dict
    curve: pd.DataFrame | None = None
    state: dict | None = None
    outputs: dict = field(default_factory=dict)
    pickled: bool = False  # the state is a library object (CTGAN, TVAE), not plain data


def job_fingerprint(identity, code_files=()) -> str:
    """What a checkpoint must match to be resumed: the job's settings and its code's bytes."""
    import hashlib

    return hashlib.sha256(repr((identity, [Path(f).read_bytes() for f in code_files])).encode()).hexdigest()


def training_job(job, train: Callable[[Trainer], Trained], *, identity, loop: dict | None, device: str,
                 device_field: str) -> Trained:
    """The one training job of every model stage (rules train_generator, train_grid_point,
    train_inference_model, learn_landmarks, train_embedding): threads, the checkpoint directory and
    fingerprint (so a killed job resumes exactly), `train(trainer)`, the card's run facts, then
    model.pt, every output and the card written atomically, and the spent checkpoints removed
    (a forced rerun retrains from scratch, which gives the same result)."""
    import shutil

    from gexflow.io import write_h5ad, write_json, write_tsv

    torch.set_num_threads(job.threads)
    out_dir = Path(job.output["card"]).parent
    trainer = Trainer(loop=dict(loop or {}), device=device, device_field=device_field,
                      checkpoint_dir=out_dir / "checkpoints",
                      fingerprint=job_fingerprint(identity, job.input.get("code", [])))
    result = train(trainer)
    result.card.update({"torch": torch.__version__, "threads": job.threads})
    if "model" in job.output:
        save_model(result.state, job.output["model"], pickled=result.pickled)
    for name, obj in result.outputs.items():
        (write_h5ad if hasattr(obj, "obs_names") else write_tsv)(obj, job.output[name])
    if "curve" in job.output:
        write_tsv(result.curve if result.curve is not None else pd.DataFrame(), job.output["curve"])
    write_json(result.card, job.output["card"])
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return result
