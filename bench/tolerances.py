"""The one table of tolerances (docs/DESIGN.md §1). Nothing else in the repo states these numbers."""
TOLERANCES = {
    # (kernel class, device): (max |Δ| vs sentence-transformers, min cosine)
    ("torch", "cpu"): (1e-5, 0.9999),
    ("own", "cpu"): (1e-4, 0.9999),      # the WASM build's own kernels
    ("torch", "cuda"): (1e-4, 0.9999),   # TF32 off
    ("own", "cuda"): (1e-4, 0.9999),
}
# The fidelity budget of the int8 rows (registry.LOSSY: never held to the table above) against upstream fp32 on the
# corpus; why these floors: docs/DESIGN.md §1. topk_mean: the least mean overlap of each text's k nearest neighbours
# (cosine, itself excluded) with upstream's; cos_min: the least cosine of a text's vector to upstream's.
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
