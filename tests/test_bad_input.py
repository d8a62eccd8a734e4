"""The bad-input contract of docs/DESIGN.md §5, for every port."""
from __future__ import annotations

import time

import numpy as np
import pytest

from bench.equivalence import oracle
from bench import registry
from bench.equivalence.check import unpad
from bench.tolerances import tolerance

PORTS = registry.PORTS


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
@pytest.mark.parametrize("bad,index", [([1], 0), (["ok", b"bytes"], 1), (["a", "b", None], 2), (["x", 3.5], 1)])
def test_non_str_item_is_type_error_naming_index(pipe, bad, index):
    for fn in (pipe.tokenize, pipe.embed):
        with pytest.raises(TypeError, match=rf"\[{index}\]"):
            fn(bad)


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
@pytest.mark.parametrize("bad,index", [(["\ud800"], 0), (["fine", "x\udfffy"], 1), (["a", "b", "\udbff"], 2)])
def test_lone_surrogate_is_value_error_naming_index(pipe, bad, index):
    for fn in (pipe.tokenize, pipe.embed):
        with pytest.raises(ValueError, match=rf"\[{index}\]"):
            fn(bad)


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
def test_empty_input_and_empty_string(pipe, mdir):
    emb = pipe.embed([])
    assert emb.shape[0] == 0 and emb.ndim == 2 and emb.shape[1] > 0 and emb.dtype == np.float32
    b = pipe.tokenize([""])
    assert b.ids.tolist() == [oracle.hf_ids(mdir, [""])[0]]  # [CLS] [SEP], as upstream
    ref = oracle.st_embed(mdir, [""])
    assert np.abs(pipe.embed([""]) - ref).max() <= tolerance(registry.BY_NAME[pipe.name].torch_model)[0]


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
def test_huge_text_is_truncated_in_linear_time(pipe, mdir):
    """10 MB texts (no spaces, all spaces, CJK) are truncated; time grows at most linearly."""
    for unit in ("a", " ", "日本 ", "word "):
        small, big = unit * (1_000_000 // len(unit)), unit * (10_000_000 // len(unit))
        t0 = time.perf_counter()
        got_small = pipe.tokenize([small])
        t1 = time.perf_counter()
        got_big = pipe.tokenize([big])
        t2 = time.perf_counter()
        assert got_big.ids.shape[1] <= 256 and got_small.ids.shape[1] <= 256
        assert unpad(got_big) == oracle.hf_ids(mdir, [big[:200_000]])
        # linear: 10x the input may take ~10x the time, never ~100x (allow noise on tiny times)
        assert t2 - t1 <= 30 * (t1 - t0) + 0.5, (unit, t1 - t0, t2 - t1)


@pytest.mark.parametrize("name", PORTS)
def test_missing_model_dir_is_one_clear_error(name, tmp_path):
    from conftest import require
    require(name)
    from contract.api import ModelDirError
    with pytest.raises(ModelDirError, match="not found|lacks|cannot read|malformed"):
        registry.load_impl(name, tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelDirError):
        registry.load_impl(name, tmp_path)
