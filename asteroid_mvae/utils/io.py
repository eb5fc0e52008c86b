"""Atomic file writing: outputs appear complete or not at all (write, then rename)."""
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


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


def write_wav(path, audio, sample_rate: int, subtype: str = "FLOAT"):
    """Write ``audio`` (``[time]`` or ``[channels, time]``) atomically as a wav file."""
    audio = np.asarray(audio)
    data = audio.T if audio.ndim == 2 else audio
    with atomic_path(path) as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype, format="WAV")


def write_text(path, text: str):
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
