"""Training speed: wall time for WGAN-GP, CVAE, diffusion and CTGAN to reach their validation
within-class gamma on the same data (KIRC pairs, KEGG renal-cell-carcinoma genes, fold 0 of the
default split), printed as ratios against CTGAN timed in the same run; and, when a GPU is present,
WGAN-GP / CVAE / diffusion training throughput on the GPU against the CPU.

"Time to validation": WGAN-GP, CVAE and diffusion run the shared loop with the default config
(validation within-class gamma every eval_every epochs, early stopping); their time is the wall time until the
epoch whose checkpoint is selected. CTGAN has no validation hook, so its time is its whole fit
(library default 300 epochs unless --ctgan-epochs), scored once on the validation split.

Usage: .venv/bin/python benchmarks/train_speed.py [--config config/config.yaml] [--threads 1]
       [--ctgan-epochs 300] [--device auto]
Reads the filtered data and gene list of a finished `make run` (results/kirc/...).
"""

import argparse
import logging
import time
from pathlib import Path

import torch
import yaml

from gexflow.experiment import load_experiment
from gexflow.splits import fold_splits
from gexflow.stages import generate as G

REPO = Path(__file__).resolve().parents[1]


def newest(pattern):
    hits = sorted(REPO.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not hits:
        raise SystemExit(f"no {pattern}: run `make run` first")
    return hits[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--experiment", default="kirc_rcc")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctgan-epochs", type=int, default=300)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((REPO / args.config).read_text())
    gen_cfg = cfg["generate"]
    exp = gen_cfg["experiments"][args.experiment]
    ds = exp["dataset"]
    X, var, obs, labels = load_experiment(newest(f"results/{ds}/filter-*/filtered.h5ad"),
                                          newest(f"results/{ds}/select-{exp['genes']}-*/genes.tsv"), exp)
    pcol = cfg["datasets"][ds].get("patient_column")
    groups = obs[pcol].astype(str).to_numpy() if pcol else obs.index.astype(str).to_numpy()
    split_cfg = {**cfg["split"], **exp.get("split", {})}
    s = fold_splits(labels, groups, k=split_cfg["folds"], val_fraction=split_cfg["val_fraction"], seed=cfg["seed"])[0]
    split = (s.train, s.val, s.test)
    print(f"data: {args.experiment}, {X.shape[1]} genes, {len(s.train)} train / {len(s.val)} validation samples, "
          f"{args.threads} CPU thread(s)")
    settings = {m: dict(gen_cfg["settings"][m], **exp.get("settings", {}).get(m, {}))
                for m in ("wgan_gp", "cvae", "diffusion")}
    settings["ctgan"] = dict(gen_cfg["settings"].get("ctgan", {}), epochs=args.ctgan_epochs)
    loop = {k: v for k, v in gen_cfg["loop"].items()}
    rows = {}
    for model in ("wgan_gp", "cvae", "diffusion", "ctgan"):
        t = time.perf_counter()
        _, _, card, _, _ = G.train_generator(X, obs, labels, split, exp, model, settings[model], seed=cfg["seed"],
                                             device="cpu" if model == "ctgan" else args.device, loop=loop)
        wall = time.perf_counter() - t
        rows[model] = (card["timings_s"]["to_best_validation"], card["validation"][G.VALIDATION_METRIC], wall,
                       card.get("best_epoch"), card.get("epochs_run", settings[model].get("epochs")))
    base = rows["ctgan"][0]
    print(f"{'model':9s} {'to best val (s)':>16s} {'val w-gamma':>11s} {'whole fit (s)':>14s} {'best/run epochs':>16s} "
          f"{'CTGAN time / model time':>24s}")
    for m, (tb, g, wall, be, er) in rows.items():
        print(f"{m:9s} {tb:16.1f} {g:11.3f} {wall:14.1f} {str(be) + '/' + str(er):>16s} {base / tb:24.2f}")
    if torch.cuda.is_available():
        gpu_throughput(X, obs, labels, split, exp, settings, loop)
    else:
        print("no CUDA device: GPU throughput not measured")


def gpu_throughput(X, obs, labels, split, exp, settings, loop, epochs=30):
    """Training samples per second for a fixed number of epochs, CPU vs CUDA, same settings."""
    for model in ("wgan_gp", "cvae", "diffusion"):
        rates = {}
        for device in ("cpu", "cuda"):
            cfg = dict(settings[model], epochs=epochs)
            t = time.perf_counter()
            G.train_generator(X, obs, labels, split, exp, model, cfg, seed=0, device=device,
                              loop=dict(loop, eval_every=epochs, patience=0))
            rates[device] = epochs * len(split[0]) / (time.perf_counter() - t)
        print(f"{model}: {rates['cpu']:.0f} samples/s on CPU, {rates['cuda']:.0f} on {torch.cuda.get_device_name()}"
              f" ({rates['cuda'] / rates['cpu']:.2f}x)")


if __name__ == "__main__":
    main()
