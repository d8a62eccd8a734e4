"""Shared fixtures. Under CI=true a missing component FAILS (never skips): see require()."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from bench import oracle, registry  # noqa: E402
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
        _PIPES[name] = registry.load(name, mdir)
    return _PIPES[name]


def pytest_sessionfinish(session, exitstatus):
    for p in _PIPES.values():
        close = getattr(p, "close", None)
        if close:
            close()
