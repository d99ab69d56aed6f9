"""A bulk dataset's sample sheet as the filter stage uses it: rows checked against
workflow/schemas/samples.schema.yaml (canonical role names), numerical covariates that parse,
and the AnnData `obs` built from it (numerical columns as floats, the rest as categories)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.errors import InputError

SAMPLE_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"


def sheet_roles(ds: dict) -> dict:
    """Role -> the sheet column a dataset entry names for it (condition, patient)."""
    return {"condition": ds.get("condition_column"), "patient": ds.get("patient_column")}


def required_columns(ds: dict) -> list[str]:
    """Every sheet column a dataset entry names: its roles and covariates."""
    cols = [c for c in sheet_roles(ds).values() if c]
    cols += list(ds.get("categorical_covariates", [])) + list(ds.get("numerical_covariates", []))
    return list(dict.fromkeys(cols))


def validate_sheet(sheet: pd.DataFrame, ds: dict, sheet_file) -> None:
    """Rows against the sample-sheet schema (canonical names); numerical covariates are numbers."""
    import jsonschema
    import yaml

    roles = sheet_roles(ds)
    validator = jsonschema.Draft202012Validator(yaml.safe_load(SAMPLE_SCHEMA.read_text()))
    canon = pd.DataFrame({"sample_id": sheet[ds["sample_id_column"]]})
    for role, col in roles.items():
        if col:
            canon[role] = sheet[col]
    for i, row in enumerate(canon.to_dict(orient="records")):
        e = jsonschema.exceptions.best_match(validator.iter_errors(row))
        if e is not None:
            field = roles.get(list(e.path)[0], ds["sample_id_column"]) if e.path else ds["sample_id_column"]
            raise InputError(sheet_file, field, f"row {i + 2}: {e.message}", "fix that row of the sample sheet")
    for col in ds.get("numerical_covariates", []):
        values = pd.to_numeric(sheet[col], errors="coerce")
        bad = sheet.index[values.isna()]
        if len(bad):
            raise InputError(sheet_file, col, "numerical covariate is not a number for sample "
                             f"{bad[0]} ('{sheet.loc[bad[0], col]}')",
                             "fill in a number, drop the sample, or list the column under `categorical_covariates`")
        infinite = sheet.index[~np.isfinite(values.to_numpy(dtype=np.float64))]
        if len(infinite):
            raise InputError(sheet_file, col, f"numerical covariate is not finite for {len(infinite)} samples "
                             f"(first {infinite[0]}: '{sheet.loc[infinite[0], col]}')",
                             "fill in a finite number, or drop those samples (the dataset's `exclude`)")
    for col in [c for c in (roles["condition"], *ds.get("categorical_covariates", [])) if c]:
        levels = sheet[col].dropna().astype(str)
        counts = levels.value_counts()
        for variants in levels.groupby(levels.str.casefold()).unique():
            if len(variants) > 1:  # 'Normal' beside 'normal': two classes of one label, or a typo
                listed = ", ".join(f"'{v}' ({counts[v]} samples)" for v in sorted(variants))
                fix = (f"map them to one level with the dataset's `condition_map` (e.g. {{{variants[0]}: "
                       f"{variants[-1]}}}), or fix the sheet" if col == roles["condition"] else
                       "write them the same way in the sheet, or drop the rows (the dataset's `exclude`)")
                raise InputError(sheet_file, col, f"levels that differ only in case: {listed}", fix)


def sheet_obs(sheet: pd.DataFrame, ds: dict) -> pd.DataFrame:
    """The AnnData obs of the kept samples: numerical covariates as float64, other columns as categories."""
    obs = sheet.copy()
    obs.index = pd.Index(obs.index.astype(str), name=None)
    numerical = set(ds.get("numerical_covariates", []))
    for col in obs.columns:
        obs[col] = pd.to_numeric(obs[col]).astype(np.float64) if col in numerical else obs[col].astype("category")
    obs.attrs = {}
    return obs
