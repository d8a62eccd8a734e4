"""The one table of tolerances (docs/DESIGN.md §1). Nothing else in the repo states these numbers."""
TOLERANCES = {
    # (kernel class, device): (max |Δ| vs sentence-transformers, min cosine)
    ("torch", "cpu"): (1e-5, 0.9999),
    ("own", "cpu"): (1e-4, 0.9999),      # the WASM build's own kernels
    ("torch", "cuda"): (1e-4, 0.9999),   # TF32 off
    ("own", "cuda"): (1e-4, 0.9999),
}


def tolerance(torch_model: bool, device: str = "cpu") -> tuple[float, float]:
    return TOLERANCES[("torch" if torch_model else "own", "cuda" if device.startswith("cuda") else "cpu")]
