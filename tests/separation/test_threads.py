"""Threads chosen from the cores other processes leave free (issue 26.7)."""

import pytest
import torch

from asteroid_mvae.separation import threads


@pytest.fixture
def machine(monkeypatch):
    """A 2-core machine whose other processes keep ``state["others"]`` cores busy, and this process ``own``."""
    state = {"others": 0.0, "own": 0.0, "wall": 0.0}

    def advance():
        step = 1.0
        state["wall"] += step
        return state["wall"]

    monkeypatch.setattr(threads, "_last", None)
    monkeypatch.setattr(threads, "_answer", None)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)

    def sample():
        wall = advance()
        return wall, (state["others"] + state["own"]) * wall, state["own"] * wall

    monkeypatch.setattr(threads, "_sample", sample)
    return state


@pytest.mark.parametrize(
    "others, own, expected", [(0.0, 0.0, 2), (0.0, 2.0, 2), (1.0, 1.0, 1), (2.0, 0.0, 1), (0.4, 1.0, 2)]
)
def test_thread_count_follows_the_free_cores(machine, others, own, expected):
    machine.update(others=others, own=own)
    assert threads.adapted_thread_count(2) == expected
    assert threads.adapted_thread_count(1) == 1  # never raised


def test_fixed_policy_and_restore(machine, monkeypatch):
    machine.update(others=2.0)
    monkeypatch.setenv("ASTEROID_MVAE_THREADS", "fixed")
    assert threads.adapted_thread_count(2) == 2
    monkeypatch.delenv("ASTEROID_MVAE_THREADS")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threads.load_adapted_threads(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_real_measurement_is_a_core_count():
    others = threads.cores_used_by_others()
    if others is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= others <= (threads.os.cpu_count() or 1) + 0.5
