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
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs follow the user's umask
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def make_writable_folder(path) -> Path:
    """Create the folder ``path`` and prove it writable (a temporary file); ``OSError`` if not."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
        pass
    return path


def current_umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_torch(obj, path):
    """Atomically ``torch.save`` ``obj``; the bytes depend on ``obj`` only.

    ``torch.save`` to a file names the archive's records after the file, so saving through a
    temporary name would leak it into the bytes; saving to memory first keeps them fixed.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getbuffer())


class UnsafePathError(ValueError):
    """A name read from data would place a file outside its output folder."""


def child_path(folder, name: str, suffix: str = "") -> Path:
    """``folder / (name + suffix)`` for a name read from data (CSV ids, archive members).

    :class:`UnsafePathError` unless the result stays inside ``folder`` (no ``..``, absolute paths or
    empty names).
    """
    folder = Path(folder)
    text = str(name)
    candidate = folder / f"{text}{suffix}"
    parts = Path(text).parts
    if not text.strip() or Path(text).is_absolute() or ".." in parts or "\\" in text:
        raise UnsafePathError(f"unsafe name {text!r} read from data: it must be a plain relative name inside {folder}")
    if not candidate.resolve().is_relative_to(folder.resolve()):
        raise UnsafePathError(f"unsafe name {text!r} read from data: {candidate} leaves {folder}")
    return candidate


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
