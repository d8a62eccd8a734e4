"""Real-browser tests: the wasm_port demo page in headless Debian Chromium (Playwright, never a
downloaded browser) embeds two sentences; they must match python_ref within the wasm tolerance, on one
thread and on two (the threaded build in Web Workers: the page must be cross-origin isolated and must
not fall back to one thread)."""
from __future__ import annotations

import numpy as np
import pytest

from bench.browser import pages as browser
from bench.tolerances import tolerance
from conftest import require


def test_demo_page_embeds_like_python_ref(mdir):
    require(browser.missing(), is_reason=True)
    from python_ref.pipeline import Pipeline as Ref
    texts = ["A man is playing a guitar.", "Someone plays an instrument."]
    with browser.serve(mdir) as (base, srv), browser.chromium() as b:
        page = b.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{base}/wasm_port/web/index.html")
        assert page.evaluate("async () => await window.__demo.ready")
        got = np.array(page.evaluate("async (t) => await window.__demo.embed(t)", texts), dtype=np.float32)
        page.click("#go")   # the page's own button fills the similarity table
        page.wait_for_selector("#sims td")
        cells = page.locator("#sims td").all_inner_texts()
        assert page.evaluate("self.crossOriginIsolated")   # COOP/COEP served
    ref = Ref(mdir).embed(texts)
    atol, min_cos = tolerance(torch_model=False)
    assert np.abs(got - ref).max() <= atol and (got * ref).sum(1).min() >= min_cos
    assert len(cells) == 9 and abs(float(cells[1]) - float(ref[0] @ ref[1])) < 1e-3   # 3 default lines -> 3x3


def test_threaded_page_is_isolated_and_matches(mdir):
    require(browser.missing(), is_reason=True)
    from python_ref.pipeline import Pipeline as Ref
    texts = ["A man is playing a guitar.", "Someone plays an instrument.", "The weather is cold today."]
    ref = Ref(mdir).embed(texts)
    atol, min_cos = tolerance(torch_model=False)
    with browser.serve(mdir) as (base, _), browser.chromium() as b:
        for threads in (1, 2):
            page = b.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{base}/wasm_port/web/index.html?threads={threads}")
            assert page.evaluate("async () => await window.__demo.ready")
            info = page.evaluate("async () => await window.__demo.info()")
            got = np.array(page.evaluate("async (t) => await window.__demo.embed(t)", texts), dtype=np.float32)
            relaxed = page.evaluate("async () => (await import('/wasm_port/js/loader.mjs')).relaxedSimdSupported()")
            peak = page.evaluate("async () => await window.__demo.peak(100)")   # the probe in Chromium, on the page's threads
            page.close()
            assert peak["threads"] == threads and peak["gflops"] > 0, peak
            assert info["crossOriginIsolated"] and info["fallback"] is None and info["threads"] == threads, info
            assert info["build"] == ("relaxed" if relaxed else "simd128") + ("-mt" if threads > 1 else ""), info
            assert np.abs(got - ref).max() <= atol and (got * ref).sum(1).min() >= min_cos, (threads, info)


def test_browser_peak_fraction_is_the_batch_work_over_the_page_peak(mdir):
    """browser/pages._peak_records on a page whose figures the test sets: the work is peak.work_flop
    on the batch's upstream token counts, over the page's batch-32 p50, over the peak it probed."""
    from bench.equivalence import oracle
    from bench.latency.peak import work_flop
    from contract.api import read_spec
    batch = ["a short text", "a somewhat longer text, with a comma and more words in it"]
    page = {"threads": 2, "threads_asked": 2, "build": "relaxed-mt", "isolated": True, "b32": {"p50": 50.0},
            "peak": {"gflops": 100.0, "threads": 2}}
    recs = browser._peak_records({"wasm@2": page, "tjs@2": {**page, "peak": None}}, {"wasm": "wasm_port", "tjs": "tjs"},
                                 mdir, batch)
    spec = read_spec(mdir)
    flop = work_flop(spec, [len(i) for i in oracle.hf_ids(mdir, batch)])
    assert [(r["impl"], r["scenario"]) for r in recs] == [("wasm_port", "browser:batch32")]
    assert recs[0]["value"] == pytest.approx(flop / 0.050 / 1e9 / 100.0) and recs[0]["extra"]["peak_threads"] == 2
    assert recs[0]["host"] == "chromium" and recs[0]["extra"]["embed_ms"] == 50.0 and recs[0]["unit"] == "fraction"
