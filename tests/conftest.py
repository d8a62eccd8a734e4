"""Shared fixtures. Under CI=true a missing component FAILS (never skips): see require()."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under `make test`'s pytest-xdist workers (a worker per core): one compute thread per worker, for
# torch here and for what its children start without a thread count of their own, so two workers on
# two cores do not run four threads. Tests that measure threading name their thread counts.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import pytest  # noqa: E402

if _WORKER:
    import torch
    torch.set_num_threads(1)

from bench.equivalence import oracle  # noqa: E402
from bench import registry
from contract.api import model_dir  # noqa: E402

IN_CI = os.environ.get("CI") == "true"


def require(name_or_reason: str | None, *, is_reason: bool = False) -> None:
    """Skip with the reason locally; fail under CI=true, where every component is required."""
    reason = name_or_reason if is_reason else registry.why_missing(name_or_reason)
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(reason)


@pytest.fixture(scope="session")
def mdir():
    return model_dir()


@pytest.fixture(scope="session")
def corpus():
    return oracle.read_corpus(oracle.PROJECT_CORPUS)


@pytest.fixture(scope="session")
def st_third(mdir, corpus):
    """A third of the corpus (every script and edge case class included), in corpus order, and
    sentence-transformers' vectors of it: computed once per session, at test time, for every test
    that compares a port's vectors on it (its encode batches by length itself: the order of the
    texts does not change a row)."""
    texts = corpus[::3]
    return texts, oracle.st_embed(mdir, texts)


_PIPES: dict = {}


@pytest.fixture
def pipe(request, mdir):
    """Indirect fixture: the Pipeline named by the test's parameter, loaded once per session."""
    name = request.param
    require(name)
    if name not in _PIPES:
        _PIPES[name] = registry.load_impl(name, mdir)
    return _PIPES[name]


def pytest_sessionfinish(session, exitstatus):
    for p in _PIPES.values():
        close = getattr(p, "close", None)
        if close:
            close()


# The slow tier (`make check` leaves it out; `make test`, what CI runs, runs everything): a test file,
# or file::test-name prefix, and why it is slow. Durations from one full run on the 2-vCPU machine.
SLOW = {
    "test_fleet.py": "a Ray cluster of two nodes, each running bench all (~165 s)",
    "test_browser.py": "headless Chromium",
    "test_adversarial.py": "10 MB adversarial texts and 20,000-text memory checks",
    "test_calibrate.py": "a timing-accuracy check (bench calibrate)",
    "test_attribution.py": "a real bench all (tests/bench_run.py) and timing-accuracy checks",
    "test_report.py": "a real bench all (tests/bench_run.py)",
    "test_registry_facts.py::test_a_port_registered_alone": "a real bench all (tests/bench_run.py)",
    "test_fidelity.py::test_bench_all": "a real bench all (tests/bench_run.py)",
    "test_model_variants.py": "every port against sentence-transformers on ~30 model directories (~180 s)",
    "test_stability.py": "simulations of the verdict rules over many runs",
    "test_readme.py::test_readme_command_runs": "the README's commands, each a fresh process",
    "test_equivalence.py::test_ids_equal_hf_on_hypothesis_text": "300 hypothesis examples per port",
}


# The serial tier: `make test` runs every other test on pytest-xdist workers (one file per worker
# at a time), then these alone, because they check timings or read a real run's intervals,
# which a second process on the same cores would move.
SERIAL = {
    "test_calibrate.py::test_bench_calibrate_recovers_injected_overhead": "recovers a planted overhead in ms",
    "test_attribution.py": "the small real bench all's intervals, and a planted padding cost in ms",
    "test_report.py": "the small real bench all's intervals",
    "test_registry_facts.py::test_a_port_registered_alone": "the small real bench all",
    "test_fidelity.py::test_bench_all": "the small real bench all",
    "test_budget.py": "bench all against its budget, in seconds",
    "test_tape.py": "the tape's cost against the C++ port's, in ms",
    "test_overhead.py": "planted I/O and removable costs, in ms",
    "test_peak.py": "the peak probe's GFLOP/s",
    "test_stability.py::test_a_machine_whose_pace_moves_is_said_not_quiet": "a 30 ms sleep's jitter under 3%",
}


def _listed(rel: str, table: dict) -> bool:
    return any(rel == k or rel.startswith(k if "::" in k else k + "::") for k in table)


# The heaviest files first (worker-seconds in a full run): `make test` hands files to its workers in
# this order (--no-loadscope-reorder), so no long file starts last and leaves one worker alone at the end.
FIRST = ("test_fleet.py", "test_model_variants.py", "test_equivalence.py", "test_adversarial.py", "test_wasm.py",
         "test_browser.py", "test_readme.py", "test_packed.py", "test_unicode_compat.py", "test_fidelity.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda it: FIRST.index(it.path.name) if it.path.name in FIRST else len(FIRST))
    for item in items:
        rel = f"{item.path.name}::{item.name}"
        if _listed(rel, SLOW):
            item.add_marker(pytest.mark.slow)
        if _listed(rel, SERIAL):
            item.add_marker(pytest.mark.serial)
        # pytest-xdist --dist loadgroup: a file's tests stay on one worker (its module fixtures load once)
        item.add_marker(pytest.mark.xdist_group(item.path.name))
