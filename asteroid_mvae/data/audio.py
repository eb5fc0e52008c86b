"""Reading corpus audio: any format soundfile knows, NIST SPHERE via ``sph2pipe``, resampling."""

import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


class DataError(ValueError):
    """A user-facing data problem (missing folder, wrong layout, impossible request)."""


class AudioReadError(DataError):
    """One audio file could not be read (corrupt, unsupported, empty)."""


SPH2PIPE_HELP = (
    "NIST SPHERE files with shorten compression need `sph2pipe` on PATH "
    "(build it from https://github.com/burrmill/sph2pipe or `conda install -c conda-forge sph2pipe`), "
    "or convert the tree once to .wav: "
    "find WSJ0_ROOT -iname '*.wv1' -exec sh -c 'sph2pipe -f wav \"$1\" \"${1%.*}.wav\"' _ {} \\;"
)


def sphere_header(path) -> dict:
    """Fields of a NIST SPHERE header (``{}`` if ``path`` is not SPHERE)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head.startswith(b"NIST_1A"):
        return {}
    fields = {}
    for line in head.decode("latin-1").splitlines()[2:]:
        parts = line.split(None, 2)
        if parts and parts[0] == "end_head":
            break
        if len(parts) == 3:
            fields[parts[0]] = parts[2].strip()
    return fields


def is_shorten_sphere(path) -> bool:
    return "shorten" in sphere_header(path).get("sample_coding", "")


def sph2pipe_available() -> bool:
    return shutil.which("sph2pipe") is not None


def _read_sphere_with_sph2pipe(path: Path):
    proc = subprocess.run(["sph2pipe", "-f", "wav", str(path)], capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioReadError(f"sph2pipe failed on {path}: {message[-1] if message else 'no output'}")
    return sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)


def read_audio(path) -> tuple:
    """Read ``path`` as ``(float32 [time], sample_rate)``; multichannel files give channel 0."""
    path = Path(path)
    try:
        if is_shorten_sphere(path):
            if not sph2pipe_available():
                raise DataError(f"{path}: {SPH2PIPE_HELP}")
            data, rate = _read_sphere_with_sph2pipe(path)
        else:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(f"unreadable audio file {path}: {err}") from err
    if data.shape[0] == 0:
        raise AudioReadError(f"empty audio file {path}")
    if not np.all(np.isfinite(data[:, 0])):
        raise AudioReadError(f"audio file {path} holds NaN or infinite samples")
    return np.ascontiguousarray(data[:, 0]), int(rate)


def resample(wav: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (Kaiser-windowed FIR anti-aliasing filter)."""
    if orig_rate == target_rate:
        return wav.astype(np.float32, copy=False)
    ratio = Fraction(target_rate, orig_rate)
    out = resample_poly(wav.astype(np.float64), ratio.numerator, ratio.denominator, window=("kaiser", 8.0))
    return out.astype(np.float32)


def load_resampled(path, target_rate: int) -> np.ndarray:
    """Read ``path`` and resample to ``target_rate``: float32 ``[time]``."""
    wav, rate = read_audio(path)
    return resample(wav, rate, target_rate)
