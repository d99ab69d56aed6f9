"""What every rule script shares: log to the rule's log file, seed, and turn bad input into one
clear message and a non-zero exit (Snakemake then removes the job's outputs)."""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path

from gexflow.errors import InputError


def run_step(smk, step) -> None:
    """Call `step(smk)` with logging to `smk.log[0]`; exit 1 with one line on bad input."""
    log_file = Path(smk.log[0]) if len(smk.log) else None
    # With a log file, everything goes there only: Snakemake shows a failed job's log
    # (show-failed-logs in the profiles), so each error reaches the console once, and third-party
    # chatter (ctgan/rdt print a line per gene) stays out of it.
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, mode="w")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    log = logging.getLogger(f"gexflow.{smk.rule}")
    from gexflow.download import DownloadError

    try:
        step(smk)
    except (InputError, DownloadError) as e:
        log.error("%s", e)
        sys.exit(1)
    except OSError as e:
        if e.errno not in STORAGE_ERRNOS:
            raise
        log.error("%s", storage_message(e, list(smk.input) if hasattr(smk, "input") else []))
        sys.exit(1)


# Full disk, quota, read-only or unwritable results directory: the user's to fix, not a bug.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_message(e: OSError, inputs) -> str:
    """One line naming the directory, its free space and a rough need (this step's input size)."""
    import shutil

    where = Path(e.filename).parent if e.filename else Path.cwd()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        free = None
    need = sum(Path(f).stat().st_size for f in inputs if Path(f).is_file())
    problem = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only"}.get(e.errno, "writing is not permitted")
    free_txt = f"{free / 1e6:.1f} MB free" if free is not None else "free space unknown"
    return (f"{where}: field '(output directory)': {problem} ({e.strerror}); {free_txt}, this step reads "
            f"{need / 1e6:.1f} MB and writes outputs of about that size. Fix: free at least that much space there "
            "(or make the directory writable), then rerun; nothing partial was kept")
