"""Atomic file writing: outputs appear complete or not at all (write, then rename)."""
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the extension, so libraries that infer the format from it work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_wav(path, audio, sample_rate: int):
    """Atomically write float ``[time]`` or ``[channels, time]`` as a 32-bit float wav.

    The bytes depend on the audio only (libsndfile's float wavs carry a PEAK chunk with a
    timestamp; scipy's writer has none), so the same seed gives byte-identical files.
    """
    audio = np.asarray(audio)
    data = np.ascontiguousarray(audio.T if audio.ndim == 2 else audio, dtype=np.float32)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, int(sample_rate), data)


def write_text(path, text: str):
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
