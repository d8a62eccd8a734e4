"""Browser bench (docs/DESIGN.md §6, §7): wasm_port, the Pyodide path and transformers.js in headless
Chromium; pages, record names and the folders to serve are registry facts (browser_pages, web, web_serves).
Serves them, the model (/model/) and the ONNX export (/onnx/) from 127.0.0.1 with COOP/COEP headers, one
fresh context per page, and reads what wasm_port/web/bench.mjs measured in the page: cold start (navigation
-> first embedding), the first call at batch 1 and 32 (latency_cold), p50/p90 at batch 1, 8 and 32 after a
warm-up, wasm memory and wasm_port's multiply-add peak; the server counts the bytes transferred. Every page
runs on 1 thread, the threaded ones also on `threads`. Leaves out: WebGPU, cached (second-visit) loads."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import asdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .. import registry
from ..results import Record

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".json": "application/json", ".onnx": "application/octet-stream",
                      ".py": "text/plain", ".txt": "text/plain", ".zip": "application/zip"}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, base in self.server.mounts.items():
            if path.startswith(prefix):
                rel = Path(*[p for p in path[len(prefix):].split("/") if p not in ("", ".", "..")])
                return str(base / rel)
        return str(ROOT / "__nothing_here__")

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def copyfile(self, source, outputfile):
        start = source.tell()
        super().copyfile(source, outputfile)
        with self.server.lock:
            self.server.bytes[self.path] = self.server.bytes.get(self.path, 0) + source.tell() - start

    def log_message(self, *args):
        pass


@contextmanager
def serve(mdir: Path, onnx_root: Path | None = None):
    """-> base URL of a server on 127.0.0.1 (random port); `.bytes` counts body bytes per path."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.mounts = {"/model/": Path(mdir), **({"/onnx/": Path(onnx_root)} if onnx_root else {}),
                  **{f"/{d}/": ROOT / d for d in _owner().web_serves}}
    srv.bytes, srv.lock = {}, threading.Lock()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    finally:
        srv.shutdown()
        srv.server_close()


def _owner():
    owner = registry.web_owner()
    if owner is None:
        raise RuntimeError("browser bench: no registry entry has web pages")
    return owner


def page_url(base: str, page: str) -> str:
    return f"{base}/{_owner().web}/web/{page}"


def missing() -> str | None:
    """None if the browser bench can run here, else one line."""
    if not Path(CHROMIUM).is_file():
        return f"browser bench: {CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser bench: playwright (python) not installed"
    owner = _owner()
    mod = importlib.import_module(owner.target.split(":")[0])
    why = mod.missing("pyodide") if hasattr(mod, "missing") else None
    if why:
        return "browser bench: " + why
    if not (ROOT / owner.web / "node_modules" / "@huggingface" / "transformers").is_dir():
        return f"browser bench: npm packages missing (cd {owner.web} && npm ci)"
    return None


@contextmanager
def chromium():
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


THREADED = ("wasm", "tjs", "tjs_q8")   # the pages that also run on the bench's thread count


def page_runs(threads: int) -> list[tuple[str, int]]:
    """(page impl, threads) of one run: every page on 1 thread, the threaded ones also on `threads`."""
    runs = [(impl, 1) for impl in registry.browser_pages()]
    return runs + [(impl, threads) for impl, _ in runs if threads > 1 and impl in THREADED]


def run_browser_bench(quick: bool, out_dir: Path, model: str | None = None, threads: int | None = None) -> dict:
    """Runs every browser page (page_runs()); writes out_dir/browser.json; returns {"machine", "records", "pages"}
    (pages keyed "impl@threads"). threads: else PORTBENCH_THREADS, else the cores."""
    from contract.api import model_dir

    from alternatives.peers import onnx_path
    from ..scenarios import texts_for
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    threads = max(1, int(threads or os.environ.get("PORTBENCH_THREADS") or os.cpu_count() or 1))
    mdir = model_dir(model)
    onnx_root = onnx_path(mdir).parents[2]   # <root>/minilm/onnx/model.onnx: this model's own export
    batch = texts_for(mdir, "medium", 32)    # the `batch` scenario's texts, as in Node
    pages = {}
    names = registry.browser_pages()   # {page impl: record name}
    if "tjs_q8" in names:   # transformers.js q8 loads the int8 export beside the fp32 one
        from alternatives.quantised import int8_export
        int8_export(onnx_path(mdir))
    with serve(mdir, onnx_root) as (base, srv), chromium() as browser:
        for impl, n in page_runs(threads):
            ctx = browser.new_context()
            ctx.add_init_script(f"self.__benchTexts = {json.dumps({'batch32': batch})};")
            page = ctx.new_page()
            srv.bytes.clear()
            page.goto(page_url(base, f"bench.html?impl={impl}&quick={int(quick)}&threads={n}"))
            page.set_default_timeout(600_000)
            page.wait_for_function("window.__bench !== undefined")
            res = page.evaluate("async () => await window.__bench")
            ctx.close()
            with srv.lock:
                served = dict(srv.bytes)
            res.setdefault("threads_asked", n)
            res["bytes_total"] = sum(served.values())
            res["bytes_model"] = sum(v for k, v in served.items() if k.startswith(("/model/", "/onnx/")))
            res["bytes_runtime"] = res["bytes_total"] - res["bytes_model"]
            pages[f"{impl}@{n}"] = res
    records = []
    for key, r in pages.items():
        impl = names[key.split("@")[0]]
        if "error" in r:
            records.append(_record(impl, "error", "browser", float("nan"), "",
                                   {"error": r["error"], "threads_asked": r["threads_asked"]}))
            continue
        extra = {"threads": r["threads"], "threads_asked": r["threads_asked"], "build": r.get("build"),
                 "crossOriginIsolated": r.get("isolated"), "fallback": r.get("fallback"),
                 "relaxed_simd_engine": r.get("relaxed_simd"),
                 "how": "timed inside the page: warm-up, then one sequence of reps (no interleaved rounds, so no "
                        "round_medians_ms); latency_cold: the first call at that batch size after the page loaded"}
        figures = [("coldstart", "browser", r["cold_ms"], "ms"),
                   ("latency_cold", "browser:batch1", r.get("first_b1_ms"), "ms"),
                   ("latency_cold", "browser:batch32", r.get("first_b32_ms"), "ms"),
                   *[(f"latency_{q}", f"browser:batch{b}", r[f"b{b}"][q], "ms") for b in (1, 8, 32)
                     for q in ("p50", "p90")],
                   ("bytes_runtime", "browser", r["bytes_runtime"], "B"),
                   ("bytes_total", "browser", r["bytes_total"], "B"),
                   ("wasm_memory", "browser", r["wasm_memory_bytes"], "B"),
                   ("ua_memory", "browser", r["ua_memory_bytes"], "B")]
        records += [_record(impl, metric, scenario, float(value), unit, extra)
                    for metric, scenario, value, unit in figures if value is not None]
    records += _peak_records(pages, names, mdir, batch)
    result = {"machine": {"browser": CHROMIUM, "browser_version": _version(), "threads": threads, "cores": os.cpu_count()},
              "records": records,
              "pages": {k: {kk: vv for kk, vv in v.items() if kk != "first"} for k, v in pages.items()}}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "browser.json").write_text(json.dumps(result, indent=1))
    result["embeddings"] = {k: v.get("first") for k, v in pages.items()}   # for callers checking equivalence
    return result


def _record(impl: str, metric: str, scenario: str, value: float, unit: str, extra: dict) -> dict:
    """A record of the page's engine, as results.json holds it."""
    return asdict(Record(impl, metric, scenario, value, unit, "cpu", "chromium", extra))


def _peak_records(pages: dict, names: dict, mdir, batch: list[str]) -> list[dict]:
    """peak_fraction at browser:batch32 of each page that probed its peak (latency/peak.peak_records),
    from the page's batch-32 p50: its embed, the tokenizer included (a few %), so a little low."""
    from contract.api import read_spec

    from ..equivalence.oracle import hf_ids
    from ..latency.peak import peak_records
    spec = read_spec(mdir)
    lens = [min(len(i), spec.max_seq_length) for i in hf_ids(mdir, batch)]
    out = []
    for key, r in pages.items():
        pk = r.get("peak") or {}
        if "error" in r or not pk.get("gflops"):
            continue
        wall = Record(names[key.split("@")[0]], "forward_p50", "browser:batch32", r["b32"]["p50"], "ms")
        peak = {"gflops": pk["gflops"], "threads": pk.get("threads"), "lanes": 4, "gflops_1t": None,
                "source": wall.impl}
        for rec in peak_records([wall], "browser:batch32", spec, lens, {"wasm (chromium)": peak}, "cpu",
                                runtime="wasm (chromium)")[0]:
            rec.host = "chromium"
            rec.extra["embed_ms"] = rec.extra.pop("forward_ms")   # the page times embed, not the forward alone
            rec.extra.update(threads=r["threads"], threads_asked=r["threads_asked"], build=r.get("build"),
                             crossOriginIsolated=r.get("isolated"),
                             how="the page's embed p50 at batch 32 (tokenizer included) against its build's "
                                 "multiply-add probe in the same page")
            out.append(asdict(rec))
    return out


def _version() -> str:
    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def print_table(result: dict) -> None:
    names = registry.browser_pages()
    fracs = {f"{k}@{r['extra']['threads_asked']}": f"{r['value']:.2f} of {r['extra']['peak_gflops']:.0f} GF/s"
             for r in result["records"] if r["metric"] == "peak_fraction"
             for k in [k for k, v in names.items() if v == r["impl"]]}
    rows = [("impl", "threads", "build", "isolated", "cold ms", "b1 cold", "b1 p50", "b8 p50", "b32 cold", "b32 p50",
             "runtime MB", "total MB", "wasm MiB", "b32 of peak")]
    for key, r in result["pages"].items():
        impl = key.split("@")[0]
        if "error" in r:
            rows.append((names[impl], str(r.get("threads_asked", "")), "error: " + r["error"].splitlines()[0][:60], *[""] * 11))
            continue
        mem = r.get("wasm_memory_bytes")
        ran = f"{r['threads']}" + ("" if r["threads"] == r["threads_asked"] else f" (asked {r['threads_asked']})")
        rows.append((names[impl], ran, str(r.get("build")), str(r.get("isolated")), f"{r['cold_ms']:.0f}",
                     f"{r['first_b1_ms']:.1f}", f"{r['b1']['p50']:.1f}", f"{r['b8']['p50']:.1f}",
                     f"{r['first_b32_ms']:.0f}", f"{r['b32']['p50']:.0f}", f"{r['bytes_runtime'] / 1e6:.2f}",
                     f"{r['bytes_total'] / 1e6:.1f}", f"{mem / 2**20:.0f}" if mem else "-", fracs.get(key, "-")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":   # python -m bench.browser.pages [--quick] [--serve]
    import sys
    if "--serve" in sys.argv:
        from contract.api import model_dir
        with serve(model_dir()) as (base, _):
            print(f"demo: {page_url(base, 'index.html')}  (Ctrl-C to stop)")
            threading.Event().wait()
    r = run_browser_bench("--quick" in sys.argv, ROOT / "results")
    print_table(r)
