"""gexflow: a Snakemake pipeline library for deep learning on cancer transcriptomes.

Kept import-light on purpose: the Snakefile imports `gexflow.config` at parse time, and every
`snakemake` call (including a no-op rerun) pays for what this module imports.
"""

__version__ = "0.1.0"
