"""Fake corpora in the real layouts, with tiny generated audio, and a shared small simulation."""

import numpy as np
import pytest
import soundfile as sf

from asteroid_mvae.data import BuiltinCorpus, RoomConfig, simulate_mixtures


def tone(freqs, seconds, rate, seed=0):
    """Sum of sines plus a little noise: float32 ``[time]``."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    sig = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs) * 0.5
    return (sig + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_sphere_pcm(path, audio, rate=16000):
    """An uncompressed NIST SPHERE file (what sph2pipe produces from .wv1 as -f sph)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, format="NIST", subtype="PCM_16")


def write_sphere_shorten(path):
    """A file with a NIST header declaring shorten compression (body is not decodable here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "NIST_1A\n   1024\nsample_rate -i 16000\nchannel_count -i 1\nsample_n_bytes -i 2\n"
        "sample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n"
    )
    path.write_bytes(header.encode().ljust(1024, b" ") + b"\x00\x01" * 100)


@pytest.fixture
def shorten_sphere():
    return write_sphere_shorten


@pytest.fixture
def fake_wsj0(tmp_path):
    """``<root>/csr_1/11-{1,2}.1/wsj0/si_tr_s/<spk>/<utt>.wv1`` (speakers over two discs) + si_dt_05."""
    root = tmp_path / "wsj0_root"
    for disc, speakers in (("11-1.1", ("011", "012")), ("11-2.1", ("013",))):
        for k, spk in enumerate(speakers):
            for j in range(3):
                audio = tone([200 + 50 * k + 10 * j], 0.8, 16000, seed=j)
                write_sphere_pcm(root / "csr_1" / disc / "wsj0" / "si_tr_s" / spk / f"{spk}c010{j}.wv1", audio)
    write_sphere_pcm(root / "csr_1" / "11-1.1" / "wsj0" / "si_dt_05" / "050" / "050c0101.wv1", tone([300], 0.8, 16000))
    return root


@pytest.fixture
def fake_jvs(tmp_path):
    """``<root>/jvs_ver1/jvsNNN/{parallel100,nonpara30}/wav24kHz16bit/*.wav`` at 24 kHz."""
    root = tmp_path / "jvs_ver1"
    for k in range(1, 4):
        for subset, name in (("parallel100", "VOICEACTRESS100_001"), ("nonpara30", "BASIC5000_0025")):
            folder = root / f"jvs{k:03d}" / subset / "wav24kHz16bit"
            folder.mkdir(parents=True)
            sf.write(str(folder / f"{name}.wav"), tone([1000, 10000], 0.9, 24000, seed=k), 24000, subtype="PCM_16")
    return tmp_path


@pytest.fixture
def fake_folder(tmp_path):
    """``<root>/<speaker>/**/*.{wav,flac}`` at mixed sample rates, one corrupt file."""
    root = tmp_path / "folder_corpus"
    for k, (spk, rate) in enumerate((("alice", 22050), ("bob", 44100), ("carol", 16000))):
        for j in range(3):
            sub = root / spk / ("session1" if j < 2 else "session2")
            sub.mkdir(parents=True, exist_ok=True)
            ext = "flac" if j == 1 else "wav"
            sf.write(str(sub / f"utt{j}.{ext}"), tone([150 * (k + 1)], 0.7, rate, seed=j), rate)
    (root / "bob" / "session2" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    return root


SMALL_CONFIG = RoomConfig(duration=1.5)


@pytest.fixture(scope="session")
def small_simulation(tmp_path_factory):
    """3 two-source mixtures of the builtin corpus (1.5 s), shared by several tests."""
    out = tmp_path_factory.mktemp("sim") / "mixtures"
    csv = simulate_mixtures(
        BuiltinCorpus(n_speakers=3, utterances_per_speaker=6), out, n_src=2, n_mixtures=3, seed=7, config=SMALL_CONFIG
    )
    return csv
