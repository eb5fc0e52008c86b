"""Atomic file writing: outputs appear complete or not at all (write, then rename)."""

import contextlib
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile


def _temporary_beside(path: Path) -> Path:
    """A new empty hidden file beside ``path`` (same folder, same extension), with the user's umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs follow the user's umask
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the extension, so libraries that infer the format from it work.
    """
    path = Path(path)
    tmp = None
    try:  # an interrupt (Ctrl-C, or SIGTERM through the command line's handler) removes it too
        tmp = _temporary_beside(path)
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_paths(paths):
    """:func:`atomic_path` for a group of files that appear all together or not at all.

    Yields one temporary path per entry of ``paths``; on success every one is renamed onto its
    target. If a rename fails, the targets renamed so far are removed (a group is never left
    half written) and the error propagates; on any error the temporary files are removed.
    """
    paths = [Path(p) for p in paths]
    temporaries = []
    try:
        for path in paths:
            temporaries.append(_temporary_beside(path))
        yield list(temporaries)
        renamed = []
        try:
            for tmp, path in zip(temporaries, paths):
                os.replace(tmp, path)
                renamed.append(path)
        except BaseException:
            for path in renamed:
                with contextlib.suppress(OSError):
                    os.remove(path)
            raise
    finally:
        for tmp in temporaries:
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
    data = _wav_data(audio)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, int(sample_rate), data)


def _wav_data(audio) -> np.ndarray:
    """float32 ``[time]`` or ``[time, channels]`` (scipy's layout) of ``[time]``/``[channels, time]``."""
    audio = np.asarray(audio)
    return np.ascontiguousarray(audio.T if audio.ndim == 2 else audio, dtype=np.float32)


def write_wavs(paths, sources, sample_rate: int):
    """Write ``sources[k]`` to ``paths[k]`` (as :func:`write_wav`) all together or not at all."""
    sources = list(sources)
    if len(sources) != len(paths):
        raise ValueError(f"{len(paths)} output paths for {len(sources)} signals")
    with atomic_paths(paths) as temporaries:
        for tmp, audio in zip(temporaries, sources):
            wavfile.write(tmp, int(sample_rate), _wav_data(audio))


def wav_shortfall(path: Path) -> int:
    """Bytes missing from a RIFF/WAVE file whose ``data`` chunk is declared longer than the file
    (0 for complete files and other formats; libsndfile reads truncated wavs silently)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                return max(0, f.tell() + length - size) if length != 0xFFFFFFFF else 0
            f.seek(length + (length & 1), 1)


def write_text(path, text: str):
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
