"""What every rule script shares: the job's inputs, outputs and params as plain data (`Job`),
logging to the rule's log file, and the error contract: bad input ends in one line naming the
file, the field and the fix; an unexpected exception leaves its full traceback in the log and one
console line; both exit 1, so Snakemake removes the job's outputs."""

from __future__ import annotations

import errno
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gexflow.errors import DownloadError, InputError


@dataclass
class Job:
    """One job of a rule, as plain data: named inputs and outputs (a path, or a list of paths),
    params, wildcards and threads. Stage entry points take nothing else, so tests build one."""

    rule: str
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    wildcards: dict = field(default_factory=dict)
    threads: int = 1
    log: str | None = None
    config: dict = field(default_factory=dict)  # runtime settings only (device, download retries): not results

    @classmethod
    def from_snakemake(cls, smk) -> Job:
        def named(items):
            return {k: (v if isinstance(v, str) else [str(x) for x in v]) for k, v in items}

        return cls(rule=smk.rule, input=named(smk.input.items()), output=named(smk.output.items()),
                   params=dict(smk.params.items()), wildcards=dict(smk.wildcards.items()),
                   threads=int(smk.threads), log=str(smk.log[0]) if len(smk.log) else None,
                   config=dict(smk.config))

    def inputs(self, *names: str) -> dict:
        """The named inputs among `names` that this job has."""
        return {k: self.input[k] for k in names if k in self.input}


# Full disk, quota, read-only or unwritable results directory: the user's to fix, not a bug.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def run_rule(smk, entry: Callable[[Job], None]) -> None:
    """A rule script's body: `entry(Job.from_snakemake(smk))` with logging to the job's log."""
    run_job(Job.from_snakemake(smk), entry)


def run_job(job: Job, entry: Callable[[Job], None]) -> None:
    """Run `entry(job)`; exit 1 with one line on bad input, storage faults and unexpected errors.
    With a log file, every message goes there only (Snakemake shows a failed job's log, so each
    error reaches the console once; third-party chatter, such as ctgan's per-gene lines, stays there)."""
    log_file = Path(job.log) if job.log else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, mode="w")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    log = logging.getLogger(f"gexflow.{job.rule}")
    try:
        entry(job)
    except (InputError, DownloadError) as e:
        log.error("%s", e)
        sys.exit(1)
    except OSError as e:
        if e.errno not in STORAGE_ERRNOS:
            _unexpected(job, log, log_file)
        log.error("%s", storage_message(e, [p for v in job.input.values() for p in ([v] if isinstance(v, str) else v)]))
        sys.exit(1)
    except Exception:  # every other failure is a bug: keep its traceback
        _unexpected(job, log, log_file)


def _unexpected(job: Job, log: logging.Logger, log_file: Path | None) -> None:
    """A bug, not bad input: the whole traceback to the job's log, one line to the console."""
    log.error("unexpected error in rule %s:\n%s", job.rule, traceback.format_exc())
    where = f"its log {log_file}" if log_file is not None else "the traceback above"
    print(f"gexflow: rule {job.rule}: unexpected error ({sys.exc_info()[0].__name__}: {sys.exc_info()[1]}); "
          f"please report it with {where}", file=sys.stderr)
    sys.exit(1)


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
