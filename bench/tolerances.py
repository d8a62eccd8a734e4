"""The one table of tolerances (docs/DESIGN.md §1). Nothing else in the repo states these numbers."""
TOLERANCES = {
    # (kernel class, device): (max |Δ| vs sentence-transformers, min cosine)
    ("torch", "cpu"): (1e-5, 0.9999),
    ("own", "cpu"): (1e-4, 0.9999),      # the WASM build's own kernels
    ("torch", "cuda"): (1e-4, 0.9999),   # TF32 off
    ("own", "cuda"): (1e-4, 0.9999),
}
# The int8 rows' own row (registry.LOSSY changes: never held to the table above): the fidelity budget against
# upstream fp32 on the corpus (equivalence/fidelity.py), which the decision table reads; `bench all --fidelity TOPK COS`
# replaces its two floors for a run. topk_mean: the least mean overlap of each text's k nearest neighbours (cosine,
# itself excluded) with upstream's; cos_min: the least cosine of a text's vector to upstream's. 0.99 and 0.99:
# published int8 embedders cost retrieval well under a percent (Intel/HF's int8 BGE-small lost 0.2-0.6% on
# MTEB retrieval), so a budget of 1% of the neighbours keeps an int8 row that costs that little and says why
# one that costs more is not recommended.
FIDELITY = {"k": 10, "topk_mean": 0.99, "cos_min": 0.99}


def tolerance(torch_model: bool, device: str = "cpu") -> tuple[float, float]:
    return TOLERANCES[("torch" if torch_model else "own", "cuda" if device.startswith("cuda") else "cpu")]


def fidelity_budget(floors=None) -> dict:
    """FIDELITY, with floors = (topk_mean, cos_min) in (0, 1] in place of its two (--fidelity); ValueError else."""
    if floors is None:
        return dict(FIDELITY)
    topk, cos = (float(x) for x in floors)
    if not (0 < topk <= 1 and 0 < cos <= 1):
        raise ValueError(f"--fidelity {topk:g} {cos:g}: both floors must be in (0, 1] (mean top-{FIDELITY['k']} "
                         "neighbour agreement, least cosine to upstream fp32)")
    return {**FIDELITY, "topk_mean": topk, "cos_min": cos}
