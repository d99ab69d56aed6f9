"""A bulk dataset's sample sheet as the filter stage uses it: rows checked against
workflow/schemas/samples.schema.yaml (canonical role names), numerical covariates that parse,
and the AnnData `obs` built from it (numerical columns as floats, the rest as categories)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gexflow.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"


def sheet_roles(ds: dict) -> dict:
    """Role -> the sheet column a dataset entry names for it (condition, patient)."""
    return {"condition": ds.get("condition_column"), "patient": ds.get("patient_column")}


def required_columns(ds: dict) -> list[str]:
    """Every sheet column a dataset entry names: its roles and covariates."""
    cols = [c for c in sheet_roles(ds).values() if c]
    cols += list(ds.get("categorical_covariates", [])) + list(ds.get("numerical_covariates", []))
    return list(dict.fromkeys(cols))


def derive_rules(ds: dict) -> list[tuple[str, str, dict]]:
    """(kind, new column, rule) of the dataset's `derive` and `levels`, in that order."""
    return [(kind, col, rule) for kind in ("derive", "levels") for col, rule in (ds.get(kind) or {}).items()]


def derive_values(values: list[str], kind: str, rule: dict) -> list[str | None]:
    """One rule on a column's values (standard library only: the parse-time checks use it too):
    `derive` keeps the regex's first group (or the whole match), `levels` the level of the first
    pattern found; None where nothing matches."""
    import re

    if kind == "derive":
        rx = re.compile(rule["regex"])
        found = [rx.search(v) for v in values]
        return [None if m is None else (m.group(1) if rx.groups else m.group(0)) for m in found]
    pats = [(re.compile(p), lvl) for p, lvl in rule["map"].items()]
    return [next((lvl for rx, lvl in pats if rx.search(v)), None) for v in values]


def unmatched_error(kind: str, col: str, rule: dict, values: list[str], out: list, sheet_file) -> None:
    miss = sorted({v for v, o in zip(values, out) if o is None})
    if miss and rule.get("unmatched", "error") != "na":
        raise InputError(sheet_file, rule["from"], f"`{kind}.{col}` matches no rule for {len(miss)} values: "
                         + ", ".join(f"'{v}'" for v in miss[:8]),
                         f"extend `datasets.<ds>.{kind}.{col}`, or set `unmatched: na` to keep them as NA")


def derive_columns(sheet: pd.DataFrame, ds: dict, sheet_file) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dataset's `derive` ({col: {from, regex}}) and `levels` ({col: {from, map: {pattern:
    level}, unmatched: error | na}}) applied to the sheet. Returns the sheet and a (column, from,
    rule, level, samples) table; a value no rule matches is an error listing those values, or NA
    with `unmatched: na`."""
    import numpy as np
    import pandas as pd

    sheet, rows = sheet.copy(), []
    for kind, col, rule in derive_rules(ds):
        src = rule["from"]
        if src not in sheet.columns:
            raise InputError(sheet_file, src, f"column named in `{kind}.{col}.from` is not in the sheet",
                             f"use one of: {', '.join(map(str, sheet.columns[:12]))}")
        values = sheet[src].fillna("").astype(str).tolist()
        out = derive_values(values, kind, rule)
        unmatched_error(kind, col, rule, values, out, sheet_file)
        sheet[col] = pd.Series(out, index=sheet.index, dtype=object).where(lambda x: x.notna(), np.nan)
        for level, n in pd.Series(out, dtype=object).fillna("NA").value_counts().sort_index().items():
            rows.append({"column": col, "from": src, "rule": kind, "level": level, "samples": int(n)})
    return sheet, pd.DataFrame(rows, columns=["column", "from", "rule", "level", "samples"])


def validate_sheet(sheet: pd.DataFrame, ds: dict, sheet_file) -> None:
    """Rows against the sample-sheet schema (canonical names); numerical covariates are numbers."""
    import jsonschema
    import pandas as pd
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


def sheet_obs(sheet: pd.DataFrame, ds: dict) -> pd.DataFrame:
    """The AnnData obs of the kept samples: numerical covariates as float64, other columns as categories."""
    import numpy as np
    import pandas as pd

    obs = sheet.copy()
    obs.index = pd.Index(obs.index.astype(str), name=None)
    numerical = set(ds.get("numerical_covariates", []))
    for col in obs.columns:
        obs[col] = pd.to_numeric(obs[col]).astype(np.float64) if col in numerical else obs[col].astype("category")
    obs.attrs = {}
    return obs
