"""A bulk dataset's sample sheet as the filter stage uses it: rows checked against
workflow/schemas/samples.schema.yaml (canonical role names), numerical covariates that parse,
and the AnnData `obs` built from it (numerical columns as floats, the rest as categories)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gexflow.errors import InputError

log = logging.getLogger("gexflow.sheets")
SAMPLE_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"


DEFAULT_ID_COLUMN = "sample_id"
MISSING_COVARIATE_POLICIES = ("error", "from_patient", "drop_samples", "drop_covariate")


def id_column(ds: dict) -> str:
    """The sheet column holding sample ids: `sample_id_column`, or (omitted / null) the sheet's
    first column when its header is blank, named `sample_id` here."""
    return ds.get("sample_id_column") or DEFAULT_ID_COLUMN


def used_columns(ds: dict) -> list[str]:
    """Every sheet column the dataset entry uses: the id, roles, covariates, include / exclude and
    the condition_map's column."""
    cols = [id_column(ds), *required_columns(ds)]
    cols += list((ds.get("include") or {})) + list((ds.get("exclude") or {}))
    return list(dict.fromkeys(c for c in cols if c))


def read_sheet(path, id_col: str, used: list[str] = ()) -> pd.DataFrame:
    """THE reader of a sample sheet (TSV, plain or gzipped), for the pre-run checks, staging and the
    filter alike, so they cannot disagree. Values are strings, empty cells NaN. A blank first header
    names the sample id column (`id_col`; never pandas' 'Unnamed: 0'); other blank headers are named
    `column_<n>`. A column name appearing twice is an error when the dataset uses it, otherwise a
    warning and its later copies are left out (said in the log)."""
    import logging

    from gexflow.io import header_fields, read_table

    log = logging.getLogger("gexflow.sheets")
    fix = "point the dataset's `samples` at a TSV with one row per sample (optionally .gz)"
    header = header_fields(path)
    sheet = read_table(path, "sample sheet", fix, dtype=str, keep_default_na=False, na_values=[""])
    if sheet.empty:
        raise InputError(path, "(rows)", f"has a header but no sample rows ({len(sheet.columns)} columns)",
                         "use the complete sample sheet, one row per sample")
    # surrounding whitespace (spaces, tabs, no-break spaces) is never part of a label or an id
    stripped = sheet.apply(lambda c: c.str.strip() if c.notna().any() else c)
    changed = int((stripped.fillna("") != sheet.fillna("")).to_numpy().sum())
    if changed:
        log.info("%s: stripped surrounding whitespace from %d cells", path, changed)
    sheet = stripped.replace("", np.nan)
    if not header or len(header) != sheet.shape[1]:
        return sheet  # an odd header: the column checks that follow say what is missing
    # as pandas reads them: a quoted header field ("sample_barcode") is its text
    names = [h[1:-1] if len(h) >= 2 and h[0] == h[-1] == '"' else h for h in header]
    if names[0].strip() == "" and id_col not in names:
        names[0] = id_col
        log.info("%s: the first column has a blank header: it is the sample id column", path)
    names = [n if n.strip() else f"column_{i + 1}" for i, n in enumerate(names)]
    dups = sorted({c for c in names if names.count(c) > 1})
    used_dups = [c for c in dups if c in used]
    if used_dups:
        raise InputError(path, used_dups[0], f"column name used by the dataset appears more than once in the "
                         f"header ({names.count(used_dups[0])} times)", "give every column a unique name")
    sheet.columns = names
    if dups:
        log.warning("%s: %d column names appear more than once (%s); the dataset does not use them, so only "
                    "the first of each is kept", path, len(dups), ", ".join(dups[:5]))
        sheet = sheet.loc[:, ~pd.Index(names).duplicated()]
    return sheet


def resolve_missing_covariates(sheet: pd.DataFrame, ds: dict, sheet_file) -> tuple[pd.DataFrame, dict, list]:
    """Empty covariate values by the dataset's `missing_covariates` policy:
    error (one line naming the column and the first sample), from_patient (the value of the same
    patient's other samples, which must agree), drop_samples (those samples left out) or
    drop_covariate (the covariate left out). Returns (sheet, dataset entry without dropped
    covariates, notes: (step, note) for filter_steps.tsv)."""
    import logging

    log = logging.getLogger("gexflow.sheets")
    policy = ds.get("missing_covariates", "error")
    covs = list(ds.get("categorical_covariates", [])) + list(ds.get("numerical_covariates", []))
    ds = dict(ds)
    notes = []
    for col in covs:
        if col not in sheet.columns:
            continue
        empty = sheet[col].isna()
        if not empty.any():
            continue
        first = sheet.index[empty][0]
        if policy == "error":
            raise InputError(sheet_file, col, f"empty covariate value for {int(empty.sum())} samples (e.g. {first})",
                             "fill them in, or set the dataset's `missing_covariates` to from_patient, drop_samples "
                             "or drop_covariate")
        if policy == "from_patient":
            pcol = ds.get("patient_column")
            if not pcol:
                raise InputError(sheet_file, col, "`missing_covariates: from_patient` needs a `patient_column`",
                                 "set the dataset's `patient_column`, or use drop_samples or drop_covariate")
            known = sheet.loc[~empty].groupby(pcol)[col].agg(lambda v: sorted(set(v)))
            conflict = [p for p, v in known.items() if len(v) > 1]
            single = {p: v[0] for p, v in known.items() if len(v) == 1}
            fill = sheet.loc[empty, pcol].map(single)
            if fill.isna().any():
                s = fill.index[fill.isna()][0]
                why = "disagree" if sheet.loc[s, pcol] in conflict else "have no value either"
                raise InputError(sheet_file, col, f"sample {s} has no value and its patient's other samples {why}",
                                 "fill in the value, or use `missing_covariates: drop_samples` or drop_covariate")
            sheet = sheet.copy()
            sheet.loc[empty, col] = fill
            note = f"{col}: {int(empty.sum())} empty values filled from the same patient's other samples"
        elif policy == "drop_samples":
            sheet = sheet.loc[~empty]
            note = f"{col}: {int(empty.sum())} samples without a value left out"
            if sheet.empty:
                raise InputError(sheet_file, col, "every sample lacks this covariate",
                                 "fill it in, or use `missing_covariates: drop_covariate`")
        else:
            for key in ("categorical_covariates", "numerical_covariates"):
                ds[key] = [c for c in ds.get(key, []) if c != col]
            sheet = sheet.drop(columns=[col])
            note = f"{col}: covariate left out ({int(empty.sum())} samples without a value)"
        log.warning("%s: missing_covariates %s: %s", sheet_file, policy, note)
        notes.append((f"missing_covariates:{policy}", len(sheet), note))
    return sheet, ds, notes


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
    idc = id_column(ds)
    canon = pd.DataFrame({"sample_id": sheet[idc]})
    for role, col in roles.items():
        if col:
            canon[role] = sheet[col]
    for i, row in enumerate(canon.to_dict(orient="records")):
        e = jsonschema.exceptions.best_match(validator.iter_errors(row))
        if e is not None:
            field = roles.get(list(e.path)[0], idc) if e.path else idc
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
    import numpy as np
    import pandas as pd

    obs = sheet.copy()
    obs.index = pd.Index(obs.index.astype(str), name=None)
    numerical = set(ds.get("numerical_covariates", []))
    for col in obs.columns:
        obs[col] = pd.to_numeric(obs[col]).astype(np.float64) if col in numerical else obs[col].astype("category")
    obs.attrs = {}
    return obs


def read_sample_sheet(path, sample_id_column: str, required: list[str], matrix_samples: pd.Index, *,
                      include: dict | None = None, exclude: dict | None = None,
                      value_map: dict | None = None, own_group: str | None = None,
                      covariates: list[str] | None = None, ds: dict | None = None) -> pd.DataFrame:
    """Read a sample sheet (one row per sample, TSV or gzipped TSV) and check it against the
    matrix's sample columns. `include` / `exclude` ({column: [values]}) keep or drop rows before
    any check (drop a level without editing the file); `value_map` ({column: {old: new}}) renames
    values (e.g. Cancer -> tumor), values it does not list are kept. An empty `own_group` value
    (the patient column) becomes the sample's own id: that sample is a patient of its own.
    Empty values of `covariates` are left for sheets.resolve_missing_covariates; the ids the
    include / exclude filters removed are in `attrs["excluded"]`. The dataset's `derive` /
    `levels` columns (`ds`) are made first, so filters can use them; their (column, level,
    samples) table is in `attrs["derived"]`, the rows left after each filter in `attrs["counts"]`."""
    used = [sample_id_column, *required, *(include or {}), *(exclude or {})]
    used += [r["from"] for _, _, r in derive_rules(ds or {})]
    sheet = read_sheet(path, sample_id_column, used)
    derived = None
    if ds and (ds.get("derive") or ds.get("levels")):
        sheet, derived = derive_columns(sheet, ds, path)
        for r in derived.itertuples():
            log.info("%s: derived %s (%s of %s) = %s: %d samples", path, r.column, r.rule, r[2], r.level, r.samples)
    counts = [("rows", len(sheet))]
    excluded = []
    for kind, rules in (("include", include or {}), ("exclude", exclude or {})):
        for col, values in rules.items():
            if col not in sheet.columns:
                raise InputError(path, col, f"column named in the dataset's `{kind}` is not in the sheet",
                                 f"use one of: {', '.join(sheet.columns[:10])}")
            hit = sheet[col].astype(str).isin([str(v) for v in values])
            before = len(sheet)
            if sample_id_column in sheet.columns:
                excluded += list(sheet.loc[~hit if kind == "include" else hit, sample_id_column].dropna())
            sheet = sheet[hit] if kind == "include" else sheet[~hit]
            log.info("%s: `%s` on %s %s keeps %d of %d samples", path, kind, col, list(values), len(sheet), before)
            counts.append((f"{kind} {col}", len(sheet)))
        if sheet.empty:
            raise InputError(path, kind, "no sample is left after the dataset's `include` / `exclude` filters",
                             "check the column values listed there")
    for col, mapping in (value_map or {}).items():
        if col in sheet.columns:
            unknown = sorted(set(sheet[col].dropna()) - set(map(str, mapping)) - set(map(str, mapping.values())))
            sheet[col] = sheet[col].map(lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v)
            if unknown:
                log.info("%s: %s values not in the dataset's map, kept as they are: %s", path, col, unknown[:5])
    for col in [sample_id_column, *required]:
        if col not in sheet.columns:
            raise InputError(path, col, f"required column missing (columns: {', '.join(sheet.columns[:8])})",
                             "add the column or change the dataset's `*_column` setting to an existing one")
    ids = sheet[sample_id_column]
    if own_group and own_group in sheet.columns and sheet[own_group].isna().any():
        log.info("%s: %d samples have no %s; each is its own patient", path, int(sheet[own_group].isna().sum()),
                 own_group)
        sheet[own_group] = sheet[own_group].fillna(ids)
    if ids.isna().any():
        raise InputError(path, sample_id_column, "empty sample id", "fill in every sample id")
    if ids.duplicated().any():
        raise InputError(path, sample_id_column, f"duplicate sample id {ids[ids.duplicated()].iloc[0]}",
                         "list each sample once")
    for col in [c for c in required if c not in (covariates or ())]:
        if sheet[col].isna().any():
            raise InputError(path, col, f"empty value for sample {ids[sheet[col].isna()].iloc[0]}",
                             "fill in the column for every sample or drop those samples from the sheet")
    absent = ids[~ids.isin(matrix_samples)]
    if len(absent):
        raise InputError(path, sample_id_column,
                         f"{len(absent)} samples are not columns of the matrix (e.g. {', '.join(absent[:3])})",
                         "remove them from the sample sheet or use the matrix that holds them")
    sheet = sheet.set_index(sample_id_column, drop=False).rename_axis("sample_id")
    sheet.attrs = {"excluded": [str(e) for e in excluded], "derived": derived, "counts": counts}
    return sheet
