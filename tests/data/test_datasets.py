import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from asteroid_mvae.cli import main
from asteroid_mvae.data import (
    BuiltinCorpus,
    DataError,
    MixtureDataset,
    RoomConfig,
    SpeakerSpectrogramDataset,
    simulate_speakers,
)
from asteroid_mvae.separation import StftConfig, stft


@pytest.fixture(scope="module")
def speaker_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("speakers")
    return simulate_speakers(
        BuiltinCorpus(n_speakers=3, utterances_per_speaker=6),
        out,
        n_per_speaker=2,
        seed=0,
        config=RoomConfig(duration=2.0),
    )


def test_speaker_dataset_items_labels_and_label_map(speaker_set):
    frame = pd.read_csv(speaker_set)
    assert len(frame) == 6 and sorted(frame.speaker.unique()) == ["synth000", "synth001", "synth002"]
    ds = SpeakerSpectrogramDataset(speaker_set.parent, segment_frames=16, seed=1)
    assert ds.label_map == json.loads((speaker_set.parent / "label_map.json").read_text())
    assert ds.label_map == {"synth000": 0, "synth001": 1, "synth002": 2}
    np.testing.assert_array_equal(ds.labels, frame.speaker.map(ds.label_map).to_numpy())
    mag, label = ds[3]
    assert mag.shape == (1024, 16) and mag.dtype == torch.float32 and label.dtype == torch.int64
    assert label.item() == ds.label_map[frame.speaker[3]]
    wav = torch.from_numpy(sf.read(str(speaker_set.parent / frame.path[3]), dtype="float32")[0])
    full = stft(wav, StftConfig()).abs()[1:]
    starts = [s for s in range(full.shape[1] - 15) if torch.allclose(full[:, s : s + 16], mag, atol=1e-5)]
    assert starts  # the item is a genuine segment of the utterance's magnitude STFT, DC dropped
    again = SpeakerSpectrogramDataset(speaker_set, segment_frames=16, seed=1)
    assert all(torch.equal(ds[i][0], again[i][0]) for i in range(len(ds)))
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i][0], again[i][0]) for i in range(len(ds)))


def test_speaker_dataset_default_segment_wraps_short_signals(speaker_set):
    ds = SpeakerSpectrogramDataset(speaker_set)
    mag, _ = ds[0]  # 2-s signals have 32 frames < 128: repeated to fill the segment
    assert mag.shape == (1024, 128)
    n = StftConfig().n_frames(32000)
    torch.testing.assert_close(mag[:, :n], mag[:, n : 2 * n])
    with pytest.raises(DataError, match="not in the label map"):
        SpeakerSpectrogramDataset(speaker_set, label_map={"synth000": 0})


def test_speaker_dataset_builds_label_map_when_missing(tmp_path, speaker_set):
    frame = pd.read_csv(speaker_set)
    frame["path"] = [str(speaker_set.parent / p) for p in frame.path]
    frame.to_csv(tmp_path / "train.csv", index=False)
    ds = SpeakerSpectrogramDataset(tmp_path / "train.csv", segment_frames=8, segments_per_utterance=3)
    assert len(ds) == 18 and (tmp_path / "label_map.json").is_file()
    assert list(ds.labels) == [l for l in ds.utterance_labels for _ in range(3)]


def test_mixture_dataset_items_infos_and_metadata(small_simulation):
    ds = MixtureDataset(small_simulation, ref_mic=1)
    assert len(ds) == 3 and ds.n_src == 2
    mix, refs = ds[1]
    assert mix.shape == (2, 24000) and refs.shape == (2, 24000) and mix.dtype == refs.dtype == torch.float32
    meta = ds.metadata(1)
    image2 = sf.read(meta["source_2_path"], dtype="float32")[0].T
    np.testing.assert_array_equal(refs[1].numpy(), image2[1])
    torch.testing.assert_close(refs.sum(0), mix[1], atol=1e-6, rtol=0)
    infos = ds.get_infos()
    assert infos["task"] == "sep_reverb" and infos["corpus"] == "builtin" and infos["licenses"]
    with pytest.raises(DataError, match="ref_mic 5 is out of range"):
        MixtureDataset(small_simulation, ref_mic=5)[0]
    with pytest.raises(DataError, match="expected 8000 Hz"):
        MixtureDataset(small_simulation, sample_rate=8000)[0]
    with pytest.raises(DataError, match="metadata CSV not found"):
        MixtureDataset(small_simulation.parent / "nope.csv")


def test_cli_simulate_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "simulate",
        "--corpus",
        "builtin",
        "--n-src",
        "2",
        "--n-mixtures",
        "2",
        "--duration",
        "1",
        "--out",
        str(out),
        "--seed",
        "3",
        "--rt60",
        "0.2",
        "0.4",
    ]
    assert main(args) == 0
    frame = pd.read_csv(out / "metadata.csv")
    assert len(frame) == 2 and frame.rt60.between(0.2, 0.4).all() and frame.rt60.nunique() == 2
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    assert main(args) == 0  # resume: nothing redone
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before
    assert main(["simulate-speakers", "--n-per-speaker", "1", "--duration", "1", "--out", str(tmp_path / "spk")]) == 0
    assert len(pd.read_csv(tmp_path / "spk" / "metadata.csv")) == 4
    capsys.readouterr()
    assert (
        main(["simulate", "--corpus", "jvs", "--corpus-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
        == 2
    )
    assert "JVS corpus directory not found" in capsys.readouterr().err
    assert main(["simulate", "--corpus", "wsj0", "--out", str(tmp_path / "x")]) == 2
    assert "needs --corpus-dir" in capsys.readouterr().err
    assert main(["simulate", "--n-src", "5", "--out", str(tmp_path / "x")]) == 2
    assert "5 sources requested" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
