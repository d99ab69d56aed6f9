"""Rule learn_landmarks: the group-lasso MLP of one fold and the genes it ranks highest."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_rule  # noqa: E402
from gexflow.stages.infer import learn_landmarks  # noqa: E402

run_rule(snakemake, learn_landmarks)  # noqa: F821
