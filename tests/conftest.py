"""Shared fixtures: small reverberant rooms simulated with pyroomacoustics.

Sources are speech-like: noise shaped by a random spectral envelope and switched on and
off in syllable-length bursts, so that they are non-stationary and super-Gaussian.
"""

import functools

import numpy as np
import pytest
import torch
from asteroid.losses import pairwise_neg_sisdr
from scipy.optimize import linear_sum_assignment
from scipy.signal import lfilter

FS = 16000


def speech_like(n_samples, rng):
    """Noise through a random all-pole envelope, gated in 100-300 ms bursts: ``[time]``."""
    poles = [0.9 * np.exp(1j * rng.uniform(0.05, 0.6) * np.pi) for _ in range(3)]
    a = np.real(np.poly(poles + [p.conjugate() for p in poles]))
    sig = lfilter([1.0], a, rng.standard_normal(n_samples))
    gate = np.zeros(n_samples)
    pos = 0
    while pos < n_samples:
        length = int(rng.uniform(0.1, 0.3) * FS)
        gate[pos : pos + length] = rng.uniform(0.2, 1.0) if rng.random() < 0.75 else 0.0
        pos += length
    sig = sig * np.convolve(gate, np.hanning(400) / 200, mode="same")
    return sig / np.std(sig)


@functools.lru_cache(maxsize=None)
def simulate_room(n_src, rt60, seconds=6.0, seed=0, n_mics=None):
    """Reverberant images ``[src, mics, time]`` (M = N mics unless ``n_mics``, circular array r = 0.1 m)."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    size, center = [8.0, 6.0, 3.0], np.array([4.0, 3.0])
    if rt60 > 0:
        absorption, max_order = pra.inverse_sabine(rt60, size)
        room = pra.ShoeBox(size, fs=FS, materials=pra.Material(absorption), max_order=max_order)
    else:
        room = pra.ShoeBox(size, fs=FS, max_order=0)
    n = int(seconds * FS)
    for k in range(n_src):  # 20 to 140 degrees: no two sources mirror each other about the mic axis
        az = np.deg2rad(20 + 120 * k / (n_src - 1))
        room.add_source([*(center + 2.0 * np.array([np.cos(az), np.sin(az)])), 1.5], signal=speech_like(n, rng))
    n_mics = n_mics or n_src
    mics = pra.circular_2D_array(center, n_mics, 0.0, 0.1)
    room.add_microphone_array(np.vstack([mics, np.full(n_mics, 1.5)]))
    images = room.simulate(return_premix=True)[:, :, :n]
    return (images / np.abs(images.sum(0)).max()).astype(np.float32)


@pytest.fixture
def single_thread():
    """Small tensors: one thread is as fast and does not spin on a busy machine.

    Use with ``pytestmark = pytest.mark.usefixtures("single_thread")`` (or autouse in a conftest).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def room():
    """Factory: ``room(n_src, rt60)`` -> (mixture ``[mics, time]``, references ``[src, time]`` at mic 0)."""

    def make(n_src, rt60, seconds=6.0, seed=0, n_mics=None):
        images = simulate_room(n_src, rt60, seconds, seed, n_mics)
        return images.sum(0), images[:, 0]

    return make


def si_sdr_improvement(estimates, references, mixture):
    """Mean SI-SDR improvement (dB) with the best permutation; numpy/torch ``[src, time]``."""
    est = torch.as_tensor(np.asarray(estimates, dtype=np.float32))[None]
    ref = torch.as_tensor(np.asarray(references, dtype=np.float32))[None]
    scores = -pairwise_neg_sisdr(est, ref)[0].numpy()  # [est, ref]
    rows, cols = linear_sum_assignment(-scores)
    mix = torch.as_tensor(np.asarray(mixture, dtype=np.float32))[None, None].expand_as(ref)
    base = torch.diagonal(-pairwise_neg_sisdr(mix, ref)[0]).numpy()
    return float(np.mean(scores[rows, cols] - base[cols]))


@pytest.fixture
def sisdri():
    return si_sdr_improvement


@functools.lru_cache(maxsize=None)
def simulate_direct_path(n_src, rt60, seconds=6.0, seed=0, n_mics=None, early=0.05):
    """The layout of :func:`simulate_room`, with each source's direct-path reference: ``(mixture
    [mics, time], direct [src, time])``, ``direct`` the source through mic 0's impulse response cut
    ``early`` seconds after its direct-path peak (direct path plus early reflections: the target of
    dereverberation)."""
    import pyroomacoustics as pra
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    size, center = [8.0, 6.0, 3.0], np.array([4.0, 3.0])
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=FS, materials=pra.Material(absorption), max_order=max_order)
    n = int(seconds * FS)
    signals = [speech_like(n, rng) for _ in range(n_src)]
    for k, signal in enumerate(signals):
        az = np.deg2rad(20 + 120 * k / (n_src - 1))
        room.add_source([*(center + 2.0 * np.array([np.cos(az), np.sin(az)])), 1.5], signal=signal)
    n_mics = n_mics or n_src
    mics = pra.circular_2D_array(center, n_mics, 0.0, 0.1)
    room.add_microphone_array(np.vstack([mics, np.full(n_mics, 1.5)]))
    room.compute_rir()
    mixture = room.simulate(return_premix=True)[:, :, :n].sum(0)
    direct = []
    for k, signal in enumerate(signals):
        h = np.asarray(room.rir[0][k])
        direct.append(fftconvolve(signal, h[: int(np.argmax(np.abs(h))) + int(early * FS)])[:n])
    peak = np.abs(mixture).max()
    return (mixture / peak).astype(np.float32), (np.stack(direct) / peak).astype(np.float32)


@pytest.fixture
def direct_path_room():
    """Factory: ``direct_path_room(n_src, rt60, ...)`` -> (mixture ``[mics, time]``, direct-path
    references ``[src, time]`` at mic 0); see :func:`simulate_direct_path`."""
    return simulate_direct_path
