"""dev: python_ref's padded model call against the same call on an unpadded batch of its real tokens
(N rows of M // N) and python_ref_packed's, interleaved (8 rounds after 2 warm), with the time inside
scaled_dot_product_attention of each, for dev/NOTES-attribution.md "The padding ceiling from the whole
forward". Usage: .venv/bin/python dev/padding_whole.py [length N] (default medium 32). Leaves out: the
bench's own wiring (bench/attribution/padding.py builds its unpadded batch the same way).
"""
import torch, time, sys
from statistics import median
from bench import registry
from bench.scenarios import texts_for
from contract.api import model_dir
from bench.attribution import overhead as oh
from torch.overrides import TorchFunctionMode
torch.set_num_threads(2)
mdir = model_dir(None)
scen = sys.argv[1] if len(sys.argv) > 1 else "medium"; n = int(sys.argv[2]) if len(sys.argv) > 2 else 32
texts = texts_for(mdir, scen, n)
class AT(TorchFunctionMode):
    def __init__(s): super().__init__(); s.t = 0.0
    def __torch_function__(s, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if "scaled_dot_product" in getattr(func, "__name__", ""):
            t0 = time.perf_counter(); o = func(*args, **kwargs); s.t += time.perf_counter() - t0; return o
        return func(*args, **kwargs)
pipes = {nm: registry.load_impl(nm, mdir) for nm in ("python_ref", "python_ref_packed")}
p = pipes["python_ref"]; b = p.tokenize(texts)
args = oh.io_split(p, b, reps=1)["args"]
print([ (tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else a for a in args])
N, T = args[0].shape; mask = args[1]; M = int(mask.sum()); Tp = M // N
keep = mask.reshape(-1).nonzero().squeeze(1)
def unpad(a):
    if isinstance(a, torch.Tensor) and tuple(a.shape[:2]) == (N, T):
        if a is mask: return torch.ones(N, Tp, dtype=a.dtype)
        return a.reshape(N * T, *a.shape[2:]).index_select(0, keep)[:N * Tp].reshape(N, Tp, *a.shape[2:]).contiguous()
    return a
uargs = tuple(unpad(a) for a in args)
pk = pipes["python_ref_packed"]; pargs = oh.io_split(pk, pk.tokenize(texts), reps=1)["args"]
fw = {"pad": (p.model.forward, args), "unpad": (p.model.forward, uargs), "packed": (pk.model.forward, pargs)}
for f, a in fw.values(): f(*a); f(*a)
ts = {k: [] for k in fw}
for _ in range(8):
    for k, (f, a) in fw.items():
        t0 = time.perf_counter(); f(*a); ts[k].append(time.perf_counter() - t0)
at = {}
for k, (f, a) in fw.items():
    xs = []
    for _ in range(3):
        m = AT()
        with m: f(*a)
        xs.append(m.t)
    at[k] = median(xs)
print(f"N {N} T {T} M {M} T' {Tp} fill {M/(N*T):.2f}")
for k in fw: print(k, f"wall {median(ts[k])*1e3:.1f} attn {at[k]*1e3:.1f}")
w = {k: median(v) for k, v in ts.items()}
print("gain packed", w["pad"]/w["packed"], "ceiling unpad", w["pad"]/w["unpad"], "ceiling unpad + attn kept", w["pad"]/(w["unpad"] + at["pad"] - at["unpad"]))
