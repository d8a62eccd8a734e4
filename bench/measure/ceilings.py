"""The profile-first prediction (docs/DESIGN.md, opening): from the reference's attribution, the
share of its time a port can remove and so the most it can gain (its ceiling). Which buckets a port
removes is a registry fact (`replaces`), never a list kept here.
Leaves out: intervals on ceilings and gains (bootstrap over the rounds' records: see
`round_medians_ms` in measure/latency.py; planned, docs/DESIGN.md §7)."""
from __future__ import annotations

from .. import registry


def shares(att: dict) -> dict:
    total = sum(att["buckets"].values()) or 1e-12
    return {k: v / total for k, v in att["buckets"].items()}


def ceiling(ref_att: dict) -> dict:
    """From the reference's profile: the share a port can remove and the most it can gain.

    port_share: tokenize + dispatch_overhead (a full native port of tokenizer and glue);
    tokenizer_share: tokenize alone (a port of the tokenizer only)."""
    s = shares(ref_att)
    port = s["tokenize"] + s["dispatch_overhead"]
    return {"port_share": port, "max_speedup": 1.0 / max(1.0 - port, 1e-9),
            "tokenizer_share": s["tokenize"], "tokenizer_max_speedup": 1.0 / max(1.0 - s["tokenize"], 1e-9),
            "dominant": max(s, key=s.get)}


def port_ceiling(name: str, ref_att: dict) -> float | None:
    """Predicted max speed-up of `name` over the reference, from the buckets it replaces (registry);
    None for the reference itself, an unregistered name, or one that also swaps the kernels (its
    gain is not bounded by the reference's profile)."""
    parts = registry.replaces(name)
    if name == registry.REFERENCE or parts is None or "model_kernels" in parts:
        return None
    share = sum(shares(ref_att)[p] for p in parts)
    return 1.0 / max(1.0 - share, 1e-9)
