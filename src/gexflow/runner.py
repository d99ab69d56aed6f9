"""What every rule script shares: log to the rule's log file, seed, and turn bad input into one
clear message and a non-zero exit (Snakemake then removes the job's outputs)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from gexflow.errors import InputError


def run_step(smk, step) -> None:
    """Call `step(smk)` with logging to `smk.log[0]`; exit 1 with one line on bad input."""
    log_file = Path(smk.log[0]) if len(smk.log) else None
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    log = logging.getLogger(f"gexflow.{smk.rule}")
    from gexflow.download import DownloadError

    try:
        step(smk)
    except (InputError, DownloadError) as e:
        log.error("%s", e)
        sys.exit(1)
