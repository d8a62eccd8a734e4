"""`bench calibrate` (issue 10 item 4): inject known pure-Python work and known IO into python_ref and
recover both from the attribution within 15%. Also the exit code and the last line's format."""
from __future__ import annotations

import re

from bench.attribution import calibrate
from bench import cli
from bench.attribution.overhead import cpp_missing
from tests.conftest import require

LAST = re.compile(r"^calibration: injected ([\d.]+) ms, attributed ([\d.]+) ms \(error ([\d.]+)%\)$")


def test_bench_calibrate_recovers_injected_overhead(capsys):
    require(cpp_missing(), is_reason=True)
    # the default plan (9 rounds, ~15 s): the Python part's truth is a difference of two forward
    # walls, and 5 rounds (--quick) left it 2-15% apart from the split in dev runs, 9 rounds 1.6-8.2%
    # One second try where the first is out: its truth is itself measured, and a noisy minute on the
    # 2-vCPU VM put it at 15.1% once (CI, 2026-12-07: the total at 9.2%); a method error fails both.
    for attempt in (1, 2):
        rc = cli.main(["calibrate", "--threads", "1"])
        lines = capsys.readouterr().out.strip().splitlines()
        m = LAST.match(lines[-1])
        assert m, lines[-1]
        x, y, e = map(float, m.groups())
        assert x > 0.3, "the injection must be large enough to measure"
        # X and Y are printed to 0.01 ms, E to 0.1%: recomputing E from them can be off by 1/X % + 0.05
        assert abs(abs(y - x) / x * 100 - e) <= 100 * 0.01 / x + 0.1, "E is the error of Y against X"
        if (e <= 100 * calibrate.TOLERANCE and rc == 0) or attempt == 2:
            break
    assert e <= 100 * calibrate.TOLERANCE and rc == 0, "\n".join(lines)


def test_busy_layers_run_between_layers(monkeypatch):
    seen = []
    monkeypatch.setattr(calibrate, "busy", lambda n: seen.append(("busy", n)))
    layers = calibrate.BusyLayers([1, 2, 3])
    layers.n = 10
    for x in layers:
        seen.append(("layer", x))
    assert seen == [("layer", 1), ("busy", 10), ("layer", 2), ("busy", 10), ("layer", 3), ("busy", 10)]


def test_busy_is_the_arithmetic_it_claims():
    assert calibrate.busy(1000) == sum(i * i for i in range(1000)) % 65536
