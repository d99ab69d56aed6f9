"""Inference speed: fit time of every landmark -> target model (linear, ridge with its alpha grid,
KNN with its k grid, the D-GEX MLP and the MLP on ridge's residual for a fixed number of epochs)
on the same data (the 11-cancer set, L1000 landmarks -> the other genes, fold 0 of the shared
split), printed as ratios against
the least-squares fit timed in the same run; and the MLP's training throughput (samples/s) on the
CPU and, when a GPU is present, on the GPU.

Usage: .venv/bin/python benchmarks/inference_speed.py [--config config/config.yaml] [--threads 1]
       [--epochs 10] [--dataset pancan11]
Reads the filtered data and L1000 gene list of a finished run (results/<dataset>/...).
"""

import argparse
import logging
import time
from pathlib import Path

import torch
import yaml

from gexflow.experiment import class_labels
from gexflow.splits import fold_splits
from gexflow.stages import infer as I

REPO = Path(__file__).resolve().parents[1]


def newest(pattern):
    hits = sorted(REPO.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not hits:
        raise SystemExit(f"no {pattern}: run the pipeline first")
    return hits[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--dataset", default="pancan11")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10, help="MLP epochs timed (no early stop)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((REPO / args.config).read_text())
    inf = cfg["infer"]
    exp = next(e for e in inf["experiments"].values() if e["dataset"] == args.dataset)
    X, obs, var = I.load_dataset(newest(f"results/{args.dataset}/filter-*/filtered.h5ad"))
    landmarks = I.gene_indices(var, newest(f"results/{args.dataset}/select-{exp['landmarks']}-*/genes.tsv"))
    ds = cfg["datasets"][args.dataset]
    groups = obs[ds["patient_column"]].astype(str).to_numpy() if ds.get("patient_column") else obs.index.to_numpy()
    s = fold_splits(class_labels(obs, exp["label"]), groups, k=cfg["split"]["folds"],
                    val_fraction=cfg["split"]["val_fraction"], seed=cfg["seed"])[0]
    targets = I.candidate_targets(X, s.train, landmarks, exp.get("max_targets"))
    zi, zt = I._zscore(X[s.train][:, landmarks]), I._zscore(X[s.train][:, targets])
    data = [zi.transform(X[s.train][:, landmarks]), zt.transform(X[s.train][:, targets]),
            zi.transform(X[s.val][:, landmarks]), zt.transform(X[s.val][:, targets])]
    print(f"{args.dataset}: {len(s.train)} training samples, {len(landmarks)} landmarks -> {len(targets)} targets, "
          f"{args.threads} thread(s)")
    models = ("linear", "ridge", "knn", "dgex_mlp", "dgex_residual")
    settings = {m: dict(inf["settings"].get(m, {})) for m in models}
    for m in ("dgex_mlp", "dgex_residual"):
        settings[m].update(epochs=args.epochs)
    loop = {"eval_every": args.epochs, "patience": 0}
    times = {}
    for m in models:
        t0 = time.perf_counter()
        I.fit_model(m, settings[m], *data, Ytr_log2=X[s.train][:, targets], seed=1, device="cpu", loop=loop)
        times[m] = time.perf_counter() - t0
    print(f"{'model':<14} {'fit s':>8} {'x linear':>9}")
    for m, t in times.items():
        print(f"{m:<14} {t:8.2f} {t / times['linear']:9.2f}")
    cpu_rate = len(s.train) * args.epochs / times["dgex_mlp"]
    print(f"D-GEX MLP ({settings['dgex_mlp'].get('hidden')}) CPU: {cpu_rate:,.0f} training samples/s "
          f"({args.epochs} epochs)")
    if torch.cuda.is_available():
        t0 = time.perf_counter()
        I.fit_model("dgex_mlp", settings["dgex_mlp"], *data, Ytr_log2=X[s.train][:, targets], seed=1,
                    device="cuda", loop=loop)
        gpu = time.perf_counter() - t0
        print(f"D-GEX MLP GPU: {len(s.train) * args.epochs / gpu:,.0f} training samples/s "
              f"({times['dgex_mlp'] / gpu:.1f}x CPU; {gpu / times['linear']:.2f}x the linear fit)")
    else:
        print("no GPU: GPU throughput not measured")


if __name__ == "__main__":
    main()
