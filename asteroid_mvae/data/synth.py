"""Synthetic speech for the built-in corpus: a source-filter model, deterministic by seed.

Each "speaker" has its own pitch range, vocal-tract length (formant scale), formant
bandwidths, glottal spectral tilt, breathiness and speaking rate. An utterance is a sequence
of syllables (optional unvoiced consonant + voiced vowel) grouped in words separated by
pauses, so it is sparse in time-frequency like speech (what IVA/ILRMA rely on) and its
spectral envelope and pitch identify the speaker (what the deep source models learn).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

#: Vowel formants F1..F3 in Hz for an adult male vocal tract (Peterson & Barney averages).
VOWELS = np.array(
    [
        [730, 1090, 2440],  # a
        [270, 2290, 3010],  # i
        [300, 870, 2240],  # u
        [530, 1840, 2480],  # e
        [570, 840, 2410],  # o
        [660, 1720, 2410],  # ae
        [490, 1350, 1690],  # er
    ],
    dtype=np.float64,
)

#: Unvoiced consonants: (name, band in Hz before formant scaling, relative gain, duration s).
CONSONANTS = (
    ("s", (4000.0, 7500.0), 0.5, (0.06, 0.13)),
    ("sh", (2000.0, 4500.0), 0.5, (0.06, 0.12)),
    ("f", (1200.0, 7000.0), 0.15, (0.05, 0.10)),
    ("t", (2500.0, 6000.0), 0.6, (0.015, 0.03)),
    ("k", (1500.0, 3500.0), 0.6, (0.02, 0.035)),
)


@dataclass(frozen=True)
class SpeakerVoice:
    """Parameters of one synthetic speaker."""

    f0: float  #: median pitch, Hz
    f0_spread: float  #: pitch excursion, semitones
    formant_scale: float  #: vocal-tract length factor (>1: shorter tract, higher formants)
    f4: float  #: speaker-specific fourth formant, Hz
    bandwidth_scale: float
    tilt: float  #: glottal low-pass pole (closer to 1: steeper spectral tilt)
    breathiness: float
    rate: float  #: syllable duration factor

    coloration_hz: float  #: centre of a speaker-specific spectral peak (timbre), Hz
    coloration_db: float  #: its gain, dB
    vowel_offsets: tuple  #: per-vowel, per-formant multiplicative offsets ("accent"), [7 x 3]

    @classmethod
    def random(cls, rng: np.random.Generator, index: int = 0) -> "SpeakerVoice":
        """Voice ``index``: alternating male/female; pitch and formant scale spread over their
        ranges by low-discrepancy sequences (so speakers differ), plus random jitter."""
        female = index % 2 == 1
        pair = index // 2
        q_pitch = (pair * 0.6180340 + rng.uniform(0, 0.2)) % 1.0
        q_tract = (pair * 0.7548777 + rng.uniform(0, 0.2)) % 1.0
        f0_lo, f0_hi = (165.0, 270.0) if female else (85.0, 155.0)
        scale_lo, scale_hi = (1.08, 1.28) if female else (0.84, 1.06)
        return cls(
            f0=float(np.exp(np.log(f0_lo) + q_pitch * np.log(f0_hi / f0_lo))),
            f0_spread=float(rng.uniform(1.5, 5.0)),
            formant_scale=float(scale_lo + q_tract * (scale_hi - scale_lo)),
            f4=float(rng.uniform(3200, 4300)),
            bandwidth_scale=float(rng.uniform(0.7, 1.6)),
            tilt=float(rng.uniform(0.88, 0.97)),
            breathiness=float(rng.uniform(0.005, 0.06)),
            rate=float(rng.uniform(0.8, 1.25)),
            coloration_hz=float(np.exp(rng.uniform(np.log(600), np.log(3500)))),
            coloration_db=float(rng.choice([-1, 1]) * rng.uniform(4, 9)),
            vowel_offsets=tuple(tuple(float(v) for v in row) for row in rng.uniform(0.92, 1.08, VOWELS.shape)),
        )


@lru_cache(maxsize=256)
def _bandpass(low: float, high: float, sample_rate: int) -> np.ndarray:
    nyquist = sample_rate / 2
    return butter(
        2, [min(low, 0.95 * nyquist), min(high, 0.98 * nyquist)], btype="bandpass", fs=sample_rate, output="sos"
    )


def _resonators(formants, bandwidths, sample_rate: int) -> tuple:
    """Cascade of unit-DC-gain two-pole resonators as one ``(b, a)`` filter."""
    b, a = np.array([1.0]), np.array([1.0])
    for freq, bw in zip(formants, bandwidths):
        if freq >= 0.48 * sample_rate:
            continue
        radius = np.exp(-np.pi * bw / sample_rate)
        pole = [1.0, -2 * radius * np.cos(2 * np.pi * freq / sample_rate), radius**2]
        a = np.convolve(a, pole)
        b = b * sum(pole)
    return b, a


def _envelope(n: int, ramp: int) -> np.ndarray:
    env = np.ones(n)
    ramp = max(1, min(ramp, n // 2))
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    env[:ramp], env[n - ramp :] = rise, rise[::-1]
    return env


def _vowel(
    voice: SpeakerVoice,
    vowel_index: int,
    f0_start: float,
    f0_end: float,
    n: int,
    rng: np.random.Generator,
    sample_rate: int,
) -> np.ndarray:
    f0 = np.geomspace(f0_start, f0_end, n) * (1 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(n))
    phase = np.cumsum(f0 / sample_rate) + rng.random()
    excitation = np.diff(np.floor(phase), prepend=np.floor(phase[0]))
    excitation = lfilter([1.0], [1.0, -2 * voice.tilt, voice.tilt**2], excitation) * (1 - voice.tilt) ** 2
    excitation += voice.breathiness * rng.standard_normal(n)
    vowel = VOWELS[vowel_index] * np.array(voice.vowel_offsets[vowel_index])
    formants = np.append(vowel * voice.formant_scale * rng.uniform(0.97, 1.03, 3), voice.f4)
    bandwidths = voice.bandwidth_scale * np.array([60.0, 90.0, 140.0, 200.0])
    b, a = _resonators(tuple(formants), tuple(bandwidths), sample_rate)
    out = lfilter(b, a, excitation)
    out = np.diff(out, prepend=0.0)  # lip radiation
    return out * _envelope(n, int(0.02 * sample_rate))


def _consonant(voice: SpeakerVoice, kind: tuple, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    _, (low, high), gain, (dmin, dmax) = kind
    n = int(rng.uniform(dmin, dmax) * voice.rate * sample_rate)
    sos = _bandpass(round(low * voice.formant_scale, -1), round(high * voice.formant_scale, -1), sample_rate)
    return gain * sosfilt(sos, rng.standard_normal(n)) * _envelope(n, int(0.008 * sample_rate))


def _colour(wav: np.ndarray, voice: SpeakerVoice, sample_rate: int) -> np.ndarray:
    """Apply the speaker's spectral peak/notch (a peaking biquad, RBJ cookbook form)."""
    gain = 10 ** (voice.coloration_db / 40)
    w0 = 2 * np.pi * voice.coloration_hz / sample_rate
    alpha = np.sin(w0) / (2 * 1.2)
    b = [1 + alpha * gain, -2 * np.cos(w0), 1 - alpha * gain]
    a = [1 + alpha / gain, -2 * np.cos(w0), 1 - alpha / gain]
    return lfilter(b, a, wav)


def synthesize_utterance(
    voice: SpeakerVoice, seconds: float, rng: np.random.Generator, sample_rate: int = 16000
) -> np.ndarray:
    """One utterance of about ``seconds`` (words of 1-4 syllables, pauses): float32 ``[time]``."""
    pieces = [np.zeros(int(rng.uniform(0.1, 0.25) * sample_rate))]
    total = len(pieces[0])
    target = int(seconds * sample_rate)
    declination = np.linspace(1.1, 0.9, 64)
    while total < target:
        for _ in range(rng.integers(1, 5)):
            if rng.random() < 0.55:
                consonant = _consonant(voice, CONSONANTS[rng.integers(len(CONSONANTS))], rng, sample_rate)
                if consonant.size < 0.04 * sample_rate:  # stops: closure silence before the burst
                    pieces.append(np.zeros(int(0.04 * sample_rate)))
                pieces.append(consonant)
            n = int(rng.uniform(0.09, 0.26) * voice.rate * sample_rate)
            progress = declination[min(63, int(63 * total / max(target, 1)))]
            f0_a, f0_b = voice.f0 * progress * 2 ** (rng.uniform(-1, 1, 2) * voice.f0_spread / 12)
            pieces.append(
                rng.uniform(0.4, 1.0) * _vowel(voice, int(rng.integers(len(VOWELS))), f0_a, f0_b, n, rng, sample_rate)
            )
        pause = np.zeros(int(rng.uniform(0.05, 0.3) * sample_rate))
        pieces.append(pause)
        total = sum(p.size for p in pieces)
    wav = _colour(np.concatenate(pieces)[:target], voice, sample_rate)
    wav *= 0.05 / (np.sqrt(np.mean(wav**2)) + 1e-12)
    return np.clip(wav, -0.99, 0.99).astype(np.float32)
