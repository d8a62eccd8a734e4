"""The one table of implementations and peers (docs/DESIGN.md §4): name -> constructor and every fact the
bench needs about it. A new port is one new Entry here; every list in bench/ derives from this table.
`why_missing()` says what cannot run here; `load_impl()` builds a Pipeline.
Leaves out: discovery of ports outside this repo (entry points); add a line instead."""
from __future__ import annotations

import importlib
from contextlib import suppress
from dataclasses import asdict, dataclass, field

# The stage names every language uses (docs/DESIGN.md §3), in pipeline order: the reading view's rows.
TOKENIZER_STAGES = ("normalize", "pre_tokenize", "wordpiece", "encode_batch")
MODEL_STAGES = ("embeddings_forward", "attention_forward", "ffn_forward", "layer_forward", "mean_pool",
                "l2_normalize")
STAGES = TOKENIZER_STAGES + MODEL_STAGES + ("pad_rows",)
# attribution's split of one embed call, one vocabulary for every method (what each holds: docs/DESIGN.md §7)
BUCKETS = ("tokenize", "model_kernels", "framework_overhead", "io")
PIECES = ("embed_glue", "padding_waste")   # measured pieces of a bucket a change can remove too (attribution/split.py)
CHANGES = ("algorithm", "language", "tokenizer")   # what a row changes: the decision table's three
LOSSY = ("quantisation",)   # changes judged by the fidelity budget (tolerances.FIDELITY), not the fp32 contract
UNBUILT = ("int8 of the project's own kernels (minilm_embed_lite, wasm_port): not built, as those kernels are being "
           "rewritten",)   # what the int8 rows leave out: a report line each (docs/DESIGN.md §2)
REFERENCE = "python_ref"            # gains, ceilings and sweeps are relative to it
EMBED_PEER = "sentence_transformers"   # what users run today: latency ratios are taken against it
TOKENIZE_PEER = "hf_tokenizers"     # the tokenizer-throughput baseline
# maintenance rows beside the ports: the bench's own code; what every port shares; the peers and interventions
HARNESS, SHARED, ALTERNATIVES = ("bench",), ("contract",), ("alternatives",)


@dataclass(frozen=True)
class Entry:
    name: str
    target: str                  # "module:Class"; the class or its module may define missing() -> str | None
    kind: str                    # "port" | "peer" | "intervention" (a cheaper fix tried before a port)
    stages: tuple = ("tokenize", "forward")
    tokenizer: str = "own"       # "own", or the entry whose tokenizer it runs (then not in the tokenizer table)
    kernels: str = "torch"       # "torch" (torch.profiler sees them), "onnxruntime" (its profiler), "inner" (its own,
    #                              timed inside its runtime by pipe.time(), never across a pipe), "none" (no forward)
    replaces: tuple = ()         # what it takes away from its baseline's split (BUCKETS and PIECES): its
    #                              ceiling; with "model_kernels" in it, it swaps the kernels and no split bounds it
    baseline: str = ""           # whose split bounds it and whose walls its gain is over ("": REFERENCE)
    change: str = ""             # what it changes (CHANGES, or "runtime" / "kernels" / LOSSY): the decision table's column
    op_cost: str = ""            # module with op_cost(kind, n, d), ns per tiny op from C++, and Tape (a forward's
    #                              ops replayed from C++): the overhead model's C++ side
    kernel_class: str = ""       # the tolerance class when `kernels` does not imply it ("torch": a binary timed inside itself, LibTorch)
    peak: str = "native"         # the runtime whose multiply-add peak its forward is a fraction of (latency/peak.py)
    dirs: tuple = ()             # its code in this repo (maintenance counts, reading view)
    glue: tuple = ()             # files that only connect one world to another (bindings, C ABI, loaders)
    generated: tuple = ()        # generated files in its dirs, counted apart
    tooling: tuple = ()          # files in its dirs that serve peers or the harness, counted apart
    borrows: tuple = ()          # (part, entry) it reuses as is, e.g. ("model", "python_ref")
    toolchain: tuple = ()        # what it brings beyond the reference's CPython + torch + numpy
    build_logs: tuple = ()       # (dir glob, target prefix) of ninja logs recording its native build
    clean_build: tuple = ()      # cmake configure command for a clean, timed build (bench all --full)
    cold: tuple = ("python",)    # cold-start rows: "python" (a fresh interpreter), "jit" (the same, JIT cache empty
    #                              then warm), "binary" (its standalone binary()), "node" (the module's RUNNER alone)
    binary: str = ""             # its standalone binary, if any: a cold-start row; the module's binary(name) finds it
    devices: tuple = ("cpu", "cuda")
    threaded_tokenize: bool = True   # tokenize() may run in many Python threads of this process
    compiles: bool = False       # compiles on first call (minutes): probed in a fresh process, not in --quick
    browser_pages: tuple = ()    # (page impl, record name) of the browser bench it owns
    web: str = ""                # its folder holding web/ (bench.html, index.html) and node_modules/
    web_serves: tuple = ()       # repo folders its pages fetch (served to the browser)
    notes: dict = field(default_factory=dict, compare=False, hash=False)   # {device: note} said when run there

    @property
    def torch_model(self) -> bool:
        """Its forward uses torch/LibTorch kernels (the tolerance class)."""
        return (self.kernel_class or self.kernels) == "torch"

    exact = property(lambda self: self.change not in LOSSY)   # held to the fp32 contract (else the fidelity budget)


_CMAKE = ("-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release")
# the int8 rows (alternatives/quantised.py): weights quantised at load, never shipped so; the reference's tokenizer, pooling
_INT8 = dict(kind="intervention", tokenizer=REFERENCE, replaces=("model_kernels",), change="quantisation", threaded_tokenize=False, devices=("cpu",))
_BINARY_CLI = ("cpp_port/main.cpp", "cpp_port/serve.cpp", "cpp_port/cli.h", "cpp_port/embed_backend.h",
               "cpp_port/standalone.py")
REGISTRY = [
    Entry("python_ref", "python_ref.pipeline:Pipeline", "port", dirs=("python_ref",), glue=("python_ref/pipeline.py",),
          generated=("python_ref/unicode_compat.py",), toolchain=("CPython", "torch", "numpy", "safetensors")),
    Entry("cython_ext", "cython_ext.pipeline:Pipeline", "port", replaces=("tokenize", "embed_glue"),
          change="tokenizer", dirs=("cython_ext",), glue=("cython_ext/pipeline.py",), borrows=(("model", "python_ref"),),
          toolchain=("Cython", "C++ compiler", "CMake", "scikit-build-core", "(+ python_ref's)"),
          build_logs=(("build/dev-cython_ext", ""), ("build/cp*", "cython_ext/")),
          clean_build=("cmake", "-S", "cython_ext") + _CMAKE),
    Entry("numba_variant", "numba_variant.pipeline:Pipeline", "port", replaces=("tokenize", "embed_glue"),
          change="tokenizer", dirs=("numba_variant",), glue=("numba_variant/pipeline.py",), borrows=(("model", "python_ref"),),
          toolchain=("numba", "llvmlite (LLVM at run time)", "(+ python_ref's)"), cold=("jit",)),
    Entry("cpp_port", "cpp_port.pipeline:Pipeline", "port",
          replaces=("tokenize", "embed_glue", "framework_overhead"), baseline="python_ref_packed", change="language",
          op_cost="cpp_port._core", dirs=("cpp_port",), glue=("cpp_port/bindings.cpp", "cpp_port/pipeline.py"),
          generated=("cpp_port/unicode_tables.h",), tooling=("cpp_port/tape.cpp",),
          toolchain=("C++17 compiler", "CMake", "LibTorch (torch's C++ API)", "pybind11", "nlohmann-json"),
          build_logs=(("build/dev-cpp_port", ""), ("build/cp*", "cpp_port/")),
          clean_build=("cmake", "-S", "cpp_port") + _CMAKE),
    # cpp_port's standalone binaries (--serve, timed inside their process): LibTorch, or wasm_port's kernels natively
    Entry("minilm_embed", "cpp_port.standalone:MinilmEmbed", "port", tokenizer="cpp_port", kernels="inner",
          kernel_class="torch", replaces=("tokenize", "embed_glue", "framework_overhead"),
          baseline="python_ref_packed", change="language", dirs=_BINARY_CLI + ("cpp_port/backend_libtorch.cpp",),
          glue=("cpp_port/standalone.py", "cpp_port/backend_libtorch.cpp"), borrows=(("tokenizer", "cpp_port"), ("model", "cpp_port")),
          toolchain=("C++17 compiler", "CMake", "LibTorch (torch's C++ API)", "nlohmann-json"),
          build_logs=(("build/cp*", "cpp_port/CMakeFiles/minilm-embed.dir/"),), cold=("binary",),
          binary="minilm-embed", threaded_tokenize=False),
    Entry("minilm_embed_lite", "cpp_port.standalone:MinilmEmbedLite", "port", tokenizer="cpp_port", kernels="inner",
          replaces=("tokenize", "embed_glue", "framework_overhead", "model_kernels"), change="kernels",
          dirs=_BINARY_CLI + ("cpp_port/backend_lite.cpp", "cpp_port/safetensors.h", "cpp_port/safetensors.cpp") + tuple(
              f"wasm_port/{f}" for f in ("kernels_native.cpp", "kernels_gemm.cpp", "kernels_attention.cpp", "kernels_simd.h")),
          glue=("cpp_port/standalone.py", "cpp_port/backend_lite.cpp"), borrows=(("tokenizer", "cpp_port"), ("model", "wasm_port")),
          toolchain=("C++17 compiler", "CMake", "nlohmann-json (header only)"),
          build_logs=(("build/cp*", "cpp_port/CMakeFiles/minilm-embed-lite.dir/"),), cold=("binary",),
          binary="minilm-embed-lite", devices=("cpu",), threaded_tokenize=False),
    Entry("wasm_port", "wasm_port.pipeline:Pipeline", "port", kernels="inner",
          replaces=("tokenize", "embed_glue", "framework_overhead", "model_kernels"), change="kernels", dirs=("wasm_port",),
          glue=("wasm_port/exports.cpp", "wasm_port/pipeline.py", "wasm_port/js/loader.mjs",
                "wasm_port/js/node_runner.mjs", "wasm_port/js/pyodide_embed.mjs", "wasm_port/js/worker.mjs"),
          tooling=("wasm_port/export_onnx.py", "wasm_port/web/bench.mjs", "wasm_port/web/bench.html"),
          borrows=(("tokenizer", "cpp_port"),),
          toolchain=("emscripten (clang/LLVM to wasm)", "CMake", "node", "npm packages (pyodide)", "a browser"),
          build_logs=(("build/wasm", ""), ("build/dev-wasm_port", "")),
          clean_build=("emcmake", "cmake", "-S", ".") + _CMAKE, cold=("python", "node"), devices=("cpu",), peak="wasm",
          threaded_tokenize=False, browser_pages=(("wasm", "wasm_port"), ("pyodide", "wasm_port_pyodide")),
          web="wasm_port", web_serves=("wasm_port", "python_ref", "contract")),
    Entry("hf_tokenizers", "alternatives.peers:HFTokenizers", "peer", stages=("tokenize",), kernels="none",
          threaded_tokenize=False),
    Entry("sentence_transformers", "alternatives.peers:SentenceTransformers", "peer", tokenizer="hf_tokenizers",
          threaded_tokenize=False),
    Entry("onnxruntime", "alternatives.peers:OnnxRuntime", "intervention", tokenizer="python_ref", kernels="onnxruntime",
          replaces=("framework_overhead", "model_kernels"), change="runtime", threaded_tokenize=False,
          browser_pages=(("tjs", "transformers_js"),),
          notes={"cuda": "onnxruntime runs a CPU session even with --device cuda: compare with care"}),
    Entry("python_ref_compile", "alternatives.peers:TorchCompiled", "intervention", tokenizer="python_ref",
          replaces=("framework_overhead", "model_kernels"), change="runtime", threaded_tokenize=False, compiles=True),
    Entry("python_ref_packed", "alternatives.packed:Pipeline", "intervention", tokenizer="python_ref",
          replaces=("padding_waste",), change="algorithm", threaded_tokenize=False),
    Entry("python_ref_int8", "alternatives.quantised:TorchInt8", baseline="python_ref", kernels="torch", **_INT8),
    Entry("onnxruntime_int8", "alternatives.quantised:OnnxRuntimeInt8", baseline="onnxruntime", kernels="onnxruntime",
          browser_pages=(("tjs_q8", "transformers_js_q8"),), **_INT8),   # q8 in the browser: the same int8 export
]
BY_NAME = {e.name: e for e in REGISTRY}
PORTS = [e.name for e in REGISTRY if e.kind == "port"]


def register(entry: Entry) -> None:
    """Add (or replace) an entry and refresh the derived lists in place (tests, plug-ins)."""
    unregister(entry.name, add=entry)


def unregister(name: str, add: Entry | None = None) -> None:
    REGISTRY[:] = [e for e in REGISTRY if e.name != name] + ([add] if add else [])
    BY_NAME.clear()
    BY_NAME.update({e.name: e for e in REGISTRY})
    PORTS[:] = [e.name for e in REGISTRY if e.kind == "port"]


# -- derived lists: the rest of bench/ asks these, never a list of names of its own --------------
def names(kind: str | tuple | None = None) -> list[str]:
    kinds = (kind,) if isinstance(kind, str) else kind
    return [e.name for e in REGISTRY if kinds is None or e.kind in kinds]


def ports(with_reference: bool = False) -> list[str]:
    """Ports in table order; without the reference unless asked (the ones a decision weighs)."""
    return [n for n in names("port") if with_reference or n != REFERENCE]


def interventions() -> list[str]:
    return names("intervention")


def tokenizers() -> list[str]:
    """Implementations with a tokenizer of their own (the tokenizer-throughput table)."""
    return [e.name for e in REGISTRY if e.tokenizer == "own" or e.name == TOKENIZE_PEER]


def has_forward(name: str) -> bool:
    return "forward" in BY_NAME[name].stages


def kernels(name: str) -> str:   # (an unregistered name: a torch model, as the reference)
    return BY_NAME[name].kernels if name in BY_NAME else "torch"


def replaces(name: str) -> tuple | None:
    return BY_NAME[name].replaces if name in BY_NAME else None


def baseline(name: str) -> str | None:
    """Whose split bounds `name` and whose walls its gain is over: its `baseline` fact, else the reference
    (for a change or an embedding peer); None for the reference, the unregistered and what changes nothing."""
    e = BY_NAME.get(name)
    if e is None or name == REFERENCE or not (e.replaces or e.change or (e.kind == "peer" and has_forward(name))):
        return None
    return e.baseline or REFERENCE


def bounds(name: str, measured) -> tuple[str, tuple | None] | None:
    """(baseline, what `name` removes from its split) among `measured`: its baseline, or where that was not
    measured the baseline's baseline with both changes' buckets. None: no measured baseline. The buckets
    are None when it swaps the kernels or is a peer: no split bounds it."""
    vs, parts = baseline(name), tuple(replaces(name) or ())
    while vs is not None and vs not in measured:
        parts, vs = parts + tuple(p for p in (replaces(vs) or ()) if p not in parts), baseline(vs)
    if vs is None:
        return None
    return vs, (None if "model_kernels" in parts or BY_NAME[name].kind == "peer" else parts)


def op_cost_module() -> str | None:
    """The module that times one tiny op from C++ (the first entry with an `op_cost` fact)."""
    return next((e.op_cost for e in REGISTRY if e.op_cost), None)


def browser_pages() -> dict[str, str]:
    """{page impl of wasm_port/web/bench.mjs: record name} over every entry."""
    return {page: rec for e in REGISTRY for page, rec in e.browser_pages}


def cold_rows(name: str) -> list[tuple[str, str]]:
    """[(kind, row label)] of the cold-start rows of `name` (see Entry.cold)."""
    e = BY_NAME[name]
    labels = {"python": [name], "jit": [f"{name} (JIT cold)", f"{name} (JIT cached)"],
              "binary": [e.binary or f"{name} (binary)"], "node": [f"{name} (node)"]}
    return [(kind, label) for kind in e.cold for label in labels[kind]]


def owner(label: str) -> str:
    """A cold-start row label or a record name -> the entry it belongs to (itself if unknown)."""
    return next((e.name for e in REGISTRY if label == e.name or label in (lb for _, lb in cold_rows(e.name))
                 or label in (rec for _, rec in e.browser_pages)), label)


def web_owner() -> Entry | None:
    """The entry whose web pages the browser bench and the demo load (the first with `web`)."""
    return next((e for e in REGISTRY if e.web), None)


entry_to_dict = asdict


def entry_from_dict(d: dict) -> Entry:
    """The inverse of entry_to_dict after a JSON round trip (lists back to tuples)."""
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, list) else v
    return Entry(**{k: (v if k == "notes" else tup(v)) for k, v in d.items()})


# -- loading ----------------------------------------------------------------------------------------
class NotAvailable(RuntimeError):
    """The entry is registered but cannot run here (not built, a package missing); one line."""


def _resolve(entry: Entry):
    mod = importlib.import_module(entry.target.split(":")[0])
    return mod, getattr(mod, entry.target.split(":")[1])


def why_missing(name: str | Entry) -> str | None:
    """None if `name` can run here, else one line saying what is missing."""
    entry = name if isinstance(name, Entry) else BY_NAME[name]
    try:
        mod, cls = _resolve(entry)
    except (ImportError, AttributeError) as e:
        return f"{entry.name}: not built or not installed ({e})"
    check = getattr(cls, "missing", None) or getattr(mod, "missing", None)
    return check() if check else None


def available(kind: str | None = None) -> list[str]:
    return [e.name for e in REGISTRY if (kind is None or e.kind == kind) and why_missing(e.name) is None]


def load_impl(name: str, model_dir=None, device: str = "cpu", **kw):
    if name not in BY_NAME:
        raise KeyError(f"unknown implementation {name!r}; known: {', '.join(BY_NAME)}")
    return construct(BY_NAME[name], model_dir, device, **kw)


def construct(entry: Entry, model_dir=None, device: str = "cpu", **kw):
    """Build `entry`'s Pipeline (also for an entry a child process received from its parent)."""
    reason = why_missing(entry)
    if reason:
        raise NotAvailable(reason)
    _, cls = _resolve(entry)
    pipe = cls(model_dir, device=device, **kw)
    if getattr(pipe, "name", entry.name) != entry.name:
        with suppress(AttributeError):
            pipe.name = entry.name   # an entry that reuses another's class under a new name
    return pipe
