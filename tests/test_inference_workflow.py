"""The inference stage end to end on the tiny config (real KIRC-subset genes, generators off):
train / evaluate / compare with learned landmarks, predict_targets on a landmark-only slice of real
KIRP samples, and a predict input lacking landmarks stopping with a clear error and no output."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import DATA, REPO, copy_tiny_config, snakemake

pytestmark = pytest.mark.workflow
_TINY = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
# only this stage: the other model stages of the tiny config are switched off
OTHER_STAGES_OFF = {f"{stage}.run": [] for stage in ("generate", "embed") if stage in _TINY}
OTHER_STAGES_OFF.update({"run.datasets": ["kirc_subset"], "deg.datasets": [], "select.datasets": [],
                         "infer.run_folds": 1})


def _ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


def test_inference_stage_and_predict_on_tiny_config(workdir):
    cfg = copy_tiny_config(workdir, **OTHER_STAGES_OFF)
    _ok(snakemake(workdir, "--cores", 2, "--configfile", cfg, "--replace-workflow-config"))
    exp_dir = next((workdir / "results/kirc_subset").glob("infer-tiny_l1000-*"))
    table = pd.read_csv(next(exp_dir.glob("compare-*/comparison_table.tsv")), sep="\t")
    assert set(table["model"]) == {"linear", "ridge", "knn", "dgex_mlp", "dgex_residual"}
    assert set(table["landmark_set"]) == {"landmarks", "learned"}
    learned = pd.read_csv(next(exp_dir.glob("learned-*/fold_0/genes.tsv")), sep="\t")
    landmarks = pd.read_csv(next((workdir / "results/kirc_subset").glob("select-l1000-*/genes.tsv")), sep="\t")
    assert len(learned) == len(landmarks) and list(learned.columns) == ["gene_id", "symbol", "source"]
    card = json.loads(next(exp_dir.glob("landmarks/ridge-*/fold_0/model_card.json")).read_text())
    assert card["n_inputs"] == len(landmarks) and "alpha" in card["chosen"]
    # predict_targets on real KIRP samples (landmarks only, linear scale)
    pred_dir = next(exp_dir.glob("predict-kirp_slice-*"))
    a = ad.read_h5ad(pred_dir / "predictions.h5ad")
    assert a.n_obs == 6 and a.n_vars == len(landmarks) + card["n_targets"] and np.isfinite(a.X).all()
    tsv = pd.read_csv(pred_dir / "predictions.tsv", sep="\t")
    assert tsv.shape == (a.n_vars, 2 + 6)
    assert json.loads((pred_dir / "summary.json").read_text())["missing_landmarks"] == 0

    # an input lacking landmarks: one line naming them, no partial output
    real = pd.read_csv(DATA / "kirp_landmarks_6samples.tsv", sep="\t")
    lacking = workdir / "lacking.tsv"
    real.iloc[3:].to_csv(lacking, sep="\t", index=False)
    spec = {"experiment": "tiny_l1000", "model": "ridge", "matrix": str(lacking), "gene_id_column": "gene_symbol",
            "scale": "linear", "missing_landmarks": "fail"}
    cfg = copy_tiny_config(workdir, "bad.yaml", **OTHER_STAGES_OFF, **{"infer.predict": {"lacking": spec}})
    r = snakemake(workdir, "--cores", 1, "--configfile", cfg, "--replace-workflow-config")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert f"3 of the model's {len(landmarks)} landmarks are missing: " in out
    assert all(g in out.split("landmarks are missing: ")[1].split(".")[0] for g in real["gene_symbol"][:3])
    bad = list(exp_dir.glob("predict-lacking-*"))
    assert not bad or not any(p.is_file() for p in bad[0].iterdir())
