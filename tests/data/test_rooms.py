import json
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from scipy.signal import correlate

from asteroid_mvae.data import BuiltinCorpus, DataError, FolderCorpus, RoomConfig, rooms, simulate_mixtures

CONFIG = RoomConfig(duration=1.5)


def read(path):
    return sf.read(str(path), dtype="float32", always_2d=True)[0].T


def positions(text):
    return np.array([[float(v) for v in p.split()] for p in text.split(";")])


def test_default_geometry_keeps_everything_inside():
    config = RoomConfig()
    config.validate(3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        geo = rooms.sample_geometry(config, 3, rng)
        centre = config.center
        np.testing.assert_allclose(np.linalg.norm(geo.mics - centre[:, None], axis=0), 0.1)
        np.testing.assert_allclose(np.linalg.norm(geo.sources - centre[:, None], axis=0), 2.5)
        np.testing.assert_allclose(geo.sources[2], 1.5)
        assert np.all(geo.sources >= 0.5 - 1e-9) and np.all(
            geo.sources <= np.array(config.room_dim)[:, None] - 0.5 + 1e-9
        )
        diffs = np.abs((geo.azimuths[:, None] - geo.azimuths[None] + 180) % 360 - 180)
        assert diffs[~np.eye(3, dtype=bool)].min() >= 20 - 1e-9


def test_rt60_of_simulated_impulse_responses_is_near_target():
    config = RoomConfig()
    geo = rooms.sample_geometry(config, 2, np.random.default_rng(1))
    rirs, info = rooms.room_impulse_responses(config, geo, 0.3)
    measured = [rooms.measure_rt60(rirs[m][s], 16000) for m in range(2) for s in range(2)]
    assert np.all(np.abs(np.array(measured) - 0.3) < 0.06), measured
    short = rooms.room_impulse_responses(RoomConfig(rt60=0.15), geo, 0.15)[0]
    assert rooms.measure_rt60(short[0][0], 16000) < min(measured)


def test_mixture_files_metadata_and_image_sum(small_simulation):
    frame = pd.read_csv(small_simulation)
    root = small_simulation.parent
    assert list(frame.mixture_ID) == ["mix000000", "mix000001", "mix000002"]
    settings = json.loads((root / "settings.json").read_text())
    assert settings["config"]["room_dim"] == [8.0, 6.0, 3.0] and settings["n_src"] == 2
    for _, row in frame.iterrows():
        mix = read(root / row.mixture_path)
        images = np.stack([read(root / row[f"source_{k}_path"]) for k in (1, 2)])
        assert mix.shape == (2, 24000) and images.shape == (2, 2, 24000)
        np.testing.assert_allclose(images.sum(0), mix, atol=1e-6)
        assert np.abs(mix).max() == pytest.approx(0.9, abs=1e-6)
        assert row.speaker_1 != row.speaker_2 and row.rt60 == 0.3
        mics, sources = (
            positions(row.mic_positions),
            np.stack([positions(row.position_1)[0], positions(row.position_2)[0]]),
        )
        np.testing.assert_allclose(np.linalg.norm(mics - [4, 3, 1.5], axis=1), 0.1, atol=1e-3)
        np.testing.assert_allclose(np.linalg.norm(sources - [4, 3, 1.5], axis=1), 2.5, atol=1e-3)
        dry = read(root / row.dry_1_path)[0]
        image = images[0, 0]
        xcorr = correlate(image, dry, mode="full", method="fft")[dry.size - 1 : dry.size + 2000]
        lag = np.argmax(np.abs(xcorr))  # direct path ~ 2.5 m / c (+ pyroomacoustics' 40-sample filter delay)
        assert abs(lag - (2.5 / 343 * 16000 + 40)) < 8


def test_builtin_mixture_is_separable_by_auxiva(small_simulation):
    from asteroid.losses import pairwise_neg_sisdr

    from asteroid_mvae.separation import LaplaceIVA, istft, separate, stft

    tmp = small_simulation.parent.parent / "separable"
    csv = simulate_mixtures(
        BuiltinCorpus(n_speakers=6), tmp, n_src=2, n_mixtures=1, seed=1, config=RoomConfig(duration=8.0)
    )
    row = pd.read_csv(csv).iloc[0]
    mix = torch.from_numpy(read(tmp / row.mixture_path)).double()
    refs = torch.stack([torch.from_numpy(read(tmp / row[f"source_{k}_path"])[0]) for k in (1, 2)]).double()
    est = istft(separate(stft(mix[None]), LaplaceIVA(), n_iter=40).estimates, mix.shape[-1])
    sdr_est = -pairwise_neg_sisdr(est, refs[None])[0]
    sdr_mix = -pairwise_neg_sisdr(mix[None, :1].expand(1, 2, -1), refs[None])[0]
    improvement = max(sdr_est[0, 0] + sdr_est[1, 1], sdr_est[0, 1] + sdr_est[1, 0]) / 2 - sdr_mix.diagonal().mean()
    assert improvement > 3.0


def test_same_seed_is_byte_identical_for_any_jobs(tmp_path, small_simulation):
    corpus = BuiltinCorpus(n_speakers=3, utterances_per_speaker=6)
    out = simulate_mixtures(corpus, tmp_path / "b", n_src=2, n_mixtures=3, seed=7, config=CONFIG, jobs=2).parent
    ref = small_simulation.parent
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for rel in files:
        assert (ref / rel).read_bytes() == (out / rel).read_bytes(), rel
    other = simulate_mixtures(corpus, tmp_path / "c", n_src=2, n_mixtures=1, seed=8, config=CONFIG).parent
    assert (other / "mix/mix000000.wav").read_bytes() != (ref / "mix/mix000000.wav").read_bytes()


def test_resume_after_interrupted_run(tmp_path, monkeypatch, small_simulation):
    corpus = BuiltinCorpus(n_speakers=3, utterances_per_speaker=6)
    real_item = rooms._simulate_mixture_item
    calls = []

    def crash_on_third(index, **kw):
        calls.append(index)
        if index == 2:
            raise KeyboardInterrupt
        return real_item(index, **kw)

    monkeypatch.setattr(rooms, "_simulate_mixture_item", crash_on_third)
    out = tmp_path / "resume"
    with pytest.raises(KeyboardInterrupt):
        simulate_mixtures(corpus, out, n_src=2, n_mixtures=3, seed=7, config=CONFIG)
    assert not (out / "metadata.csv").exists() and not (out / "mix/mix000002.wav").exists()
    (out / "mix" / ".mix000002.abc.tmp.wav").write_bytes(b"half")  # left by a killed writer
    monkeypatch.setattr(
        rooms, "_simulate_mixture_item", lambda index, **kw: (calls.append(index), real_item(index, **kw))[1]
    )
    calls.clear()
    simulate_mixtures(corpus, out, n_src=2, n_mixtures=3, seed=7, config=CONFIG)
    assert calls == [2]
    ref = small_simulation.parent
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert [f for f in files if (ref / f).read_bytes() != (out / f).read_bytes()] == []
    with pytest.raises(DataError, match="other settings"):
        simulate_mixtures(corpus, out, n_src=2, n_mixtures=3, seed=8, config=CONFIG)


def test_diffuse_noise_at_requested_snr(tmp_path):
    config = RoomConfig(duration=1.5, noise_snr_db=10.0)
    csv = simulate_mixtures(BuiltinCorpus(n_speakers=2), tmp_path, n_src=2, n_mixtures=1, config=config)
    row = pd.read_csv(csv).iloc[0]
    mix, noise = read(tmp_path / row.mixture_path), read(tmp_path / row.noise_path)
    images = sum(read(tmp_path / row[f"source_{k}_path"]) for k in (1, 2))
    np.testing.assert_allclose(images + noise, mix, atol=1e-6)
    assert 10 * np.log10(np.mean(images**2) / np.mean(noise**2)) == pytest.approx(10.0, abs=0.01)
    coherence = np.corrcoef(noise)[0, 1]  # 0.2 m apart: diffuse noise is partly coherent at low frequencies
    assert 0.0 < coherence < 0.9


@pytest.mark.parametrize(
    "kwargs, n_src, message",
    [
        ({"room_dim": (5, 5, 3)}, 2, "impossible geometry"),
        ({"min_separation_deg": 100}, 4, "cannot be 100 degrees apart"),
        ({"rt60": 0.02}, 2, "RT60 0.02 s is impossible"),
        ({"rt60": (0.3, 5.0)}, 2, "needs image-source order"),
        ({"source_distance": 0.05}, 2, "outside the array"),
        ({"array_height": 2.9}, 2, "array_height"),
        ({"noise_snr_db": float("nan")}, 2, "noise_snr_db (--snr) must be a finite number"),
        ({"rt60": float("inf")}, 2, "rt60 (--rt60) must be a finite number"),
        ({"mic_radius": float("nan")}, 2, "mic_radius (--mic-radius) must be a finite number"),
        ({"duration": 1e9}, 2, "duration (--duration) must be within"),
        ({"duration": 1e-9}, 2, "duration (--duration) must be within"),
        ({"noise_snr_db": 1e9}, 2, "finite SNR"),
        ({"max_order": -1}, 2, "image-source order >= 0"),
        ({"n_mics": 1}, 2, "underdetermined"),
        ({"n_mics": 2}, 3, "underdetermined"),
    ],
)
def test_impossible_settings_fail_before_writing(tmp_path, kwargs, n_src, message):
    with pytest.raises(DataError, match=re.escape(message)):
        simulate_mixtures(
            BuiltinCorpus(n_speakers=4), tmp_path / "out", n_src=n_src, n_mixtures=1, config=RoomConfig(**kwargs)
        )
    assert not (tmp_path / "out").exists()


def test_more_sources_than_speakers(tmp_path):
    with pytest.raises(DataError, match="3 sources requested but the builtin corpus has only 2"):
        simulate_mixtures(BuiltinCorpus(n_speakers=2), tmp_path / "out", n_src=3, n_mixtures=1)
    assert not (tmp_path / "out").exists()


def test_corrupt_short_and_silent_files_skipped_with_count_or_strict(tmp_path, fake_folder):
    import soundfile as sf

    sf.write(str(fake_folder / "carol" / "tiny.wav"), np.zeros(100, np.float32), 16000)
    sf.write(str(fake_folder / "alice" / "mute.wav"), np.zeros(16000, np.float32), 16000)
    corpus = FolderCorpus(fake_folder)
    config = RoomConfig(duration=4.0, min_utterance_s=0.5)
    with pytest.warns(UserWarning, match=r"skipped 3 unreadable or too short"):
        csv = simulate_mixtures(corpus, tmp_path / "lenient", n_src=3, n_mixtures=1, config=config)
    skipped = (tmp_path / "lenient" / "skipped.txt").read_text().splitlines()
    assert any("broken.wav" in s for s in skipped) and any("tiny: shorter than" in s for s in skipped)
    assert any("mute: silent" in s for s in skipped)
    assert "broken" not in pd.read_csv(csv).utterances_2.iloc[0]
    row = pd.read_csv(csv).iloc[0]
    assert not any("mute" in str(row[c]) for c in row.index if c.startswith("utterances_"))
    with pytest.raises(DataError, match="broken.wav"):
        simulate_mixtures(corpus, tmp_path / "strict", n_src=3, n_mixtures=1, config=config, strict=True)
    assert not list((tmp_path / "strict").glob("mix/*"))


def test_speaker_with_no_usable_audio(tmp_path):
    import soundfile as sf

    for spk in ("a", "b"):
        (tmp_path / "c" / spk).mkdir(parents=True)
        sf.write(str(tmp_path / "c" / spk / "x.wav"), np.zeros(800, np.float32), 16000)
    with pytest.raises(DataError, match="no readable utterance of at least 0.5 s"):
        simulate_mixtures(FolderCorpus(tmp_path / "c"), tmp_path / "out", n_src=2, n_mixtures=1, config=CONFIG)


def test_unwritable_output_folder_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot write to the output folder"):
        simulate_mixtures(BuiltinCorpus(n_speakers=2), blocker / "sub", n_src=2, n_mixtures=1, config=CONFIG)
