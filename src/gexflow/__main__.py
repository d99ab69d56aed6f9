"""`python -m gexflow sample <release dir> --n 5000 [--per-class tumor=300,normal=200]
[--covariates rows.tsv] [--seed S] --out cohort.h5ad`: draw more profiles from a released
generator without the workflow. The same seed and request as the workflow's sample_release job
give the same file, byte for byte."""

from __future__ import annotations

import argparse
import sys


def _per_class(text: str) -> dict:
    out = {}
    for part in filter(None, text.split(",")):
        name, _, count = part.partition("=")
        if not count.strip().isdigit():
            raise argparse.ArgumentTypeError(f"'{part}' is not class=count (e.g. tumor=300)")
        out[name.strip()] = int(count)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gexflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="draw profiles from a released generator (a release-<experiment>-<hash> dir)")
    s.add_argument("release_dir")
    s.add_argument("--n", type=int, help="number of profiles, in the cohort's class proportions")
    s.add_argument("--per-class", type=_per_class, help="counts per class, e.g. tumor=300,normal=200")
    s.add_argument("--covariates", help="TSV of covariate rows, one per profile (label and covariate columns)")
    s.add_argument("--seed", type=int, help="default: the config seed the release was made with (as the workflow)")
    s.add_argument("--out", required=True, help="the .h5ad to write (a TSV beside it with --tsv)")
    s.add_argument("--tsv", action="store_true", help="also write genes x samples TSV next to --out")
    args = parser.parse_args(argv)

    from gexflow import release
    from gexflow.errors import InputError
    from gexflow.io import read_json, write_h5ad

    if sum(x is not None for x in (args.n, args.per_class, args.covariates)) != 1:
        parser.error("give exactly one of --n, --per-class, --covariates")
    try:
        files = release.release_files(args.release_dir)
        seed = args.seed if args.seed is not None else int(read_json(files["card"])["config_seed"])
        cohort = release.sample_cohort(files, n=args.n, per_class=args.per_class, rows_file=args.covariates, seed=seed)
        write_h5ad(cohort, args.out)
        if args.tsv:
            from gexflow.io import write_tsv

            write_tsv(release.cohort_table(cohort), str(args.out).removesuffix(".h5ad") + ".tsv.gz")
    except InputError as e:
        print(f"gexflow: {e}", file=sys.stderr)
        return 1
    print(f"gexflow: wrote {cohort.n_obs} profiles of {cohort.n_vars} genes to {args.out} (seed {seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
