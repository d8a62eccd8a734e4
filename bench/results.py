"""Result records (the format: docs/DESIGN.md §7 "output"): the writer, and `load`, the one loader of result
files. A results.json travels between hosts, so `load` checks it before any reader sees it: nesting (MAX_DEPTH),
the types the bench writes (RECORD, MACHINE, EXTRA, NEEDS), values finite but where the bench writes otherwise
(OPEN), timed figures (TIMED) positive. A bad file is one ResultsError line naming the file and the field.
Leaves out: whether a figure is plausible; text is checked for type only (report/html.py escapes it)."""
from __future__ import annotations

import json
import math
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .machine import complete, describe


@dataclass
class Record:
    impl: str
    metric: str          # e.g. latency_p50, throughput, tokenize_mb_s, attribution_tokenize, coldstart
    scenario: str        # single | batch | long | tokenize | sweep:<b>x<len> | ...
    value: float
    unit: str
    device: str = "cpu"
    host: str = field(default_factory=socket.gethostname)
    extra: dict = field(default_factory=dict)


machine = describe   # machine(threads): the descriptor (bench/machine.py): hardware, versions, commit, host id


def write(path: Path, mach: dict, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": complete(mach), "records": [asdict(r) for r in records]}, indent=1))


# -- reading a result file --------------------------------------------------------------------------
class ResultsError(ValueError):
    """A result file (or an output path) the bench cannot use; the message is one line."""


MAX_DEPTH = 32   # the bench writes 7 levels; json.loads itself raises RecursionError near 1000
GATED = ("latency_", "throughput", "tokenize_texts_s", "tokenize_mb_s")   # prefixes; and every *_p50 in ms
TIMED = GATED + ("coldstart",)


def timed(rec: dict) -> bool:
    """A figure timed from a call (latency, rate, cold start): what `bench compare` shows and gates."""
    m = rec["metric"]
    return m.startswith(TIMED) or (m.endswith("_p50") and rec.get("unit") == "ms")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _map(kind: str):
    return lambda v: isinstance(v, dict) and all(v[k] is None or KINDS[kind][1](v[k]) for k in v)


KINDS = {   # kind -> (what the message calls it, check); None passes every kind but RECORD's
    "str": ("a string", lambda v: isinstance(v, str)),
    "num": ("a number", _num),
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "dict": ("an object", lambda v: isinstance(v, dict)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "strs": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "rounds": ("a list of finite numbers", lambda v: isinstance(v, list) and all(_num(x) and math.isfinite(x)
                                                                              for x in v)),
    "times": ("a list of positive finite numbers", lambda v: isinstance(v, list) and all(_num(x) and 0 < x < math.inf
                                                                                      for x in v)),
    "count": ("an integer or a list of finite numbers",
              lambda v: KINDS["int"][1](v) or KINDS["rounds"][1](v)),
    "ci": ("a list of two numbers", lambda v: isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v)),
    "str_map": ("an object of strings", _map("str")),
    "num_map": ("an object of numbers", _map("num")),
    "bool_map": ("an object of true/false", _map("bool")),
    "interval": ('an object {"value": number, "ci": [low, high]}',
                 lambda v: isinstance(v, dict) and (v.get("value") is None or _num(v["value"]))
                 and (v.get("ci") is None or KINDS["ci"][1](v["ci"]))),
    "commit": ('an object {"sha": string, "dirty": true/false}',
               lambda v: isinstance(v, dict) and (v.get("sha") is None or isinstance(v["sha"], str))
               and (v.get("dirty") is None or isinstance(v["dirty"], bool))),
}
# a record's value is a finite number (a timed one positive), but where the bench itself writes otherwise:
# null for a figure it could not get, Infinity for an unbounded ceiling, NaN/Infinity for a port's NaN output
OPEN = {"port_ceiling": ("null", "inf"), "full_port_ceiling": ("inf",), "port_gain": ("null", "nan"), "overhead_view": ("null",),
        "equivalence_max_abs": ("nan", "inf")}
RECORD = {"impl": "str", "metric": "str", "scenario": "str", "unit": "str"}   # required, never null
OPTIONAL = {"device": "str", "host": "str", "extra": "dict"}                  # null or absent: the default
MACHINE = {
    **dict.fromkeys(("host", "host_label", "host_id", "cpu", "gpu", "gpu_driver", "cuda", "os", "arch", "platform",
                     "python", "torch", "device", "plan", "weights", "model", "model_name", "model_settings",
                     "model_sha256"), "str"),
    **dict.fromkeys(("cores", "physical_cores", "threads"), "int"),
    **dict.fromkeys(("memory_bytes", "memory_gib", "gpu_memory_bytes", "load_average_start", "load_average_end",
                     "others_cpu"), "num"),
    "budget": "dict",
    "isa": "bool_map", "versions": "str_map", "parts_s": "num_map", "commit": "commit", "notes": "strs",
    "gpus": "list", "model_spec": "dict", "fleet": "dict"}
EXTRA = {   # the extra fields the readers use (report/, merge, compare, stats, attribution/ceilings)
    **dict.fromkeys(("round_medians_ms", "embed_round_ms", "runs"), "times"), "round_ms": "rounds",
    **dict.fromkeys(("embed_wall_ms", "forward_wall_ms", "share", "threshold", "level", "resolution", "tol",
                     "min_cos", "speedup", "seconds", "mb", "tokens", "max_abs_diff", "padded_sorted",
                     "padded_unsorted", "added", "removed", "generated", "glue", "tooling", "code", "own", "deps",
                     "runtime", "commits"), "num"),
    **dict.fromkeys(("vs", "verdict", "method_failure", "note", "reason", "row", "view", "how", "label",
                     "old", "new", "error", "first_bad", "length", "kind", "dominant"), "str"),
    **dict.fromkeys(("toolchain", "why", "removes"), "strs"),
    "method": "str!", "residual": "strs!",   # "!": read with a default when absent, so never null
    "batch": "int", "n": "int", "rounds": "count", "ci": "ci", "verdict_ci": "ci", "dominant_ci": "ci", "dominant_share": "num", "upper": "interval", "ok": "bool", "rebuild": "bool",
    "by_language": "num_map", "packages": "num_map", "versions": "str_map", "detail": "dict"}
EXTRA_PREFIX = {"round_ratios_vs_": "times", "ratio_vs_": "num", "speedup_vs_": "num"}
NEEDS = {   # metric (or prefix*) -> {extra field: kind} a reader indexes without a default ("?": may be null)
    "port_gain": {"vs": "str", "ci": "ci"}, "port_ceiling": {"ci": "ci?"},
    "full_port_ceiling": {"ci": "ci?", "dominant": "str", "dominant_share": "num"}, "overhead_view": {"view": "str"},
    "toolchain": {"toolchain": "strs", "versions": "str_map"}, "loc_code": {"by_language": "num_map"},
    "loc_tooling": {"files": "dict"}, "build_s": {"how": "str"},
    "change_lines": {"added": "num", "removed": "num", "files": "int", "generated": "num", "why": "strs",
                     "rebuild": "bool", "label": "str", "old": "str", "new": "str", "commits": "int"},
    "sorted_batching_s": {"texts": "int", "batch": "int", "speedup": "num", "padded_unsorted": "num",
                          "padded_sorted": "num", "tokens": "num", "max_abs_diff": "num"},
    "attribution_*": {"embed_wall_ms": "num", "forward_wall_ms": "num"}}


def _kind(f, path: str, v, kind: str) -> None:
    """v is null or of `kind`; a kind ending in "!" is never null."""
    what, ok = KINDS[kind.rstrip("!")]
    if v is None and kind.endswith("!"):
        raise ResultsError(f"{f}: {path} is null, not {what}")
    if v is not None and not ok(v):
        raise ResultsError(f"{f}: {path} is {_show(v)}, not {what}")


def _show(v) -> str:
    s = json.dumps(v, allow_nan=True)
    return type(v).__name__ if isinstance(v, (dict, list)) and len(s) > 40 else (s[:40] + "..." if len(s) > 40 else s)


def _depth(f, data) -> None:
    """Refuse nesting deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(data, 0)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            raise ResultsError(f"{f}: nested deeper than {MAX_DEPTH} levels: not a bench results.json")
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)


def _record(f, i: int, r) -> None:
    at = f"records[{i}]"
    if not isinstance(r, dict):
        raise ResultsError(f"{f}: {at} is {_show(r)}, not an object")
    for k, kind in RECORD.items():
        if k not in r:
            raise ResultsError(f"{f}: {at} has no {k!r}")
        _kind(f, f"{at}.{k}", r[k], kind + "!")
    for k, kind in OPTIONAL.items():
        _kind(f, f"{at}.{k}", r.get(k), kind)
    at = f"{at} ({r['impl']} {r['metric']} {r['scenario']})"
    v, unit = r.get("value"), r["unit"]
    _kind(f, f"{at} value", v, "num")
    odd = "null" if v is None else "nan" if math.isnan(v) else "inf" if math.isinf(v) else None
    if odd and odd not in OPEN.get(r["metric"], ()):
        raise ResultsError(f"{f}: {at}: value {_show(v)} is not a finite number")
    if timed(r) and v <= 0:
        raise ResultsError(f"{f}: {at}: value {_show(v)} is not a positive {unit or 'figure'}")
    ex = r.get("extra") or {}
    for k, x in ex.items():
        kind = EXTRA.get(k) or next((kd for p, kd in EXTRA_PREFIX.items() if k.startswith(p)), None)
        if kind:
            _kind(f, f"{at} extra.{k}", x, kind)
    needs = {k: kind for m, d in NEEDS.items() for k, kind in d.items()
             if m == r["metric"] or (m.endswith("*") and r["metric"].startswith(m[:-1]))}
    for k, kind in needs.items():
        if k not in ex or (ex[k] is None and not kind.endswith("?")):
            raise ResultsError(f"{f}: {at} lacks extra.{k}, which a {r['metric']} record carries")
        _kind(f, f"{at} extra.{k}", ex[k], kind.rstrip("?"))


def check(data, f="results.json") -> dict:
    """data, if it is a results.json the readers can use; else ResultsError. Fills in the records' defaults."""
    _depth(f, data)
    if not isinstance(data, dict) or not isinstance(data.get("records"), list) or "machine" not in data:
        raise ResultsError(f'{f}: not a bench results.json (no "machine" object and "records" list)')
    mach = data["machine"]
    if not isinstance(mach, dict):
        raise ResultsError(f"{f}: machine is {_show(mach)}, not an object")
    for k, kind in MACHINE.items():
        _kind(f, f"machine.{k}", mach.get(k), kind)
    for i, r in enumerate(data["records"]):
        _record(f, i, r)
        r.setdefault("device", "cpu")
        r["extra"] = r.get("extra") or {}
    _splits(f, data["records"])
    return data


def _splits(f, recs: list[dict]) -> None:
    """The attribution_* records of one impl and scenario have rounds of one length (the report pairs them)."""
    seen: dict = {}
    for r in recs:
        if r["metric"].startswith("attribution_"):
            ex, k = r["extra"], (r["impl"], r["scenario"])
            lens = {len(ex.get(x) or [0]) for x in ("round_ms", "embed_round_ms")}   # none: the figure, one round
            n = seen.setdefault(k, min(lens))
            if lens != {n}:
                raise ResultsError(f"{f}: the attribution of {r['impl']} at {r['scenario']} has rounds of different "
                                   f"lengths ({r['metric']}: {sorted(lens)}, the split's: {n})")


def load(path) -> dict:
    """A results directory or its results.json -> the checked data; ResultsError (one line) otherwise."""
    p = Path(path)
    f = p / "results.json" if p.is_dir() else p
    if not f.is_file():
        raise ResultsError(f"{path}: no results.json there" if p.is_dir() or not p.exists()
                           else f"{path}: not a regular file")
    try:
        data = json.loads(f.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ResultsError(f"{f}: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{f}: not JSON ({e})") from None
    except RecursionError:
        raise ResultsError(f"{f}: nested too deeply to read: not a bench results.json") from None
    except OSError as e:
        raise ResultsError(f"{f}: cannot read it ({e.strerror or e})") from None
    return check(data, f)


def out_dir(path) -> Path:
    """--out for a command that writes a report: a directory, made when missing; ResultsError otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ResultsError(f"--out {path}: exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"--out {path}: cannot make the directory ({e.strerror or e})") from None
    return p
