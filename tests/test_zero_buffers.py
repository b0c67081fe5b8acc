"""The mask paste's zero tensors: recycled only once nothing uses them, always zeros when handed out."""

from __future__ import annotations

import os

import pytest
import torch

from segzoo.models.panoptic import zero_buffers
from segzoo.models.panoptic.zero_buffers import release_cached_buffers, zeros_on_demand

SHAPE = (4, 256, 512)  # 2 MiB of float32: above the 1 MiB under which new_zeros is used


def test_a_freed_buffer_is_handed_out_again_as_zeros():
    release_cached_buffers()
    first = zeros_on_demand(SHAPE, torch.empty(0))
    first.fill_(7.0)
    address = first.data_ptr()
    del first
    second = zeros_on_demand(SHAPE, torch.empty(0))
    assert second.data_ptr() == address  # the same memory, recycled
    assert not second.any()
    smaller = zeros_on_demand((2, 256, 512), torch.empty(0, dtype=torch.bool))  # the other buffer is in use: new
    assert smaller.data_ptr() != address and not smaller.any()


def test_a_buffer_with_a_live_view_is_not_reused():
    release_cached_buffers()
    first = zeros_on_demand(SHAPE, torch.empty(0))
    base, view = first.data_ptr(), first[1]
    view.fill_(3.0)
    del first
    second = zeros_on_demand(SHAPE, torch.empty(0))
    second.fill_(5.0)
    assert second.data_ptr() != base
    assert bool((view == 3.0).all())  # the view's memory was not handed out again
    assert release_cached_buffers() == 0  # both still in use
    del view, second
    assert release_cached_buffers() == 2 * 4 * 256 * 512 * 4


def test_a_larger_free_buffer_serves_a_smaller_request_and_the_cache_has_a_cap(monkeypatch):
    release_cached_buffers()
    big = zeros_on_demand(SHAPE, torch.empty(0))
    big.fill_(1.0)
    address = big.data_ptr()
    del big
    small = zeros_on_demand((1 << 20,), torch.empty(0, dtype=torch.uint8))
    assert small.data_ptr() == address and not small.any() and small.shape == (1 << 20,)
    del small
    release_cached_buffers()
    monkeypatch.setattr(zero_buffers, "CACHE_BYTES", 0)  # no cache: nothing kept, nothing to release
    kept = zeros_on_demand(SHAPE, torch.empty(0))
    del kept
    assert release_cached_buffers() == 0
    tiny = zeros_on_demand((2, 3), torch.empty(0, dtype=torch.bfloat16))  # below 1 MiB: new_zeros
    assert tiny.dtype == torch.bfloat16 and torch.equal(tiny, torch.zeros(2, 3, dtype=torch.bfloat16))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_writes_its_own_copy():
    """A child that drops its copy of a live tensor and reuses the buffer must not touch the parent's masks."""
    release_cached_buffers()
    live = zeros_on_demand(SHAPE, torch.empty(0))
    live[0, 0, 0] = 1.0
    pid = os.fork()
    if pid == 0:  # the child: its copy of `live` is dropped, so its cache hands the buffer out again
        try:
            del live
            reused = zeros_on_demand(SHAPE, torch.empty(0))
            reused.fill_(7.0)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert float(live[0, 0, 0]) == 1.0 and int(live.count_nonzero()) == 1
