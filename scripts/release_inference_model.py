"""Rule release_inference_model: the landmark model chosen on validation refitted on every sample."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.release import release_inference_model  # noqa: E402

run_rule(snakemake, release_inference_model)  # noqa: F821
