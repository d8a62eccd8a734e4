"""One real-browser test: the wasm_port demo page in headless Debian Chromium (Playwright, never a
downloaded browser) embeds two sentences; they must match python_ref within the wasm tolerance."""
from __future__ import annotations

import numpy as np

from bench.measure import browser
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
