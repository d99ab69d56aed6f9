"""Rule report_embedding: classifier table, gene-neighbour and imputation tables, and figures of
one embedding experiment."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821 (for --sdm conda envs)
from gexflow.runner import run_step  # noqa: E402
from gexflow.stages.embed import report_embedding_stage  # noqa: E402


def main(smk):
    p, w = smk.params, smk.wildcards
    inputs = {k: smk.input[k] for k in ("h5ad", "split", "genes_tsv", "kegg") if k in smk.input.keys()}
    inputs.update({k: list(smk.input[k]) for k in ("classifiers", "genes", "imputation", "coordinates", "genes_emb")})
    report_embedding_stage(inputs, exp_name=w.experiment, exp=dict(p.experiment), sizes=list(p.sizes),
                           markers=list(p.markers), pathways=list(p.pathways), outputs=dict(smk.output.items()))


run_step(snakemake, main)  # noqa: F821
