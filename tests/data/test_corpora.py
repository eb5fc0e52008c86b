import os
import stat
import sys

import numpy as np
import pytest
from scipy.signal import welch

from asteroid_mvae.data import (
    AudioReadError,
    BuiltinCorpus,
    DataError,
    FolderCorpus,
    JvsCorpus,
    Wsj0Corpus,
    get_corpus,
    split_by_speaker,
    split_by_utterance,
)


def test_wsj0_layout_merges_discs_and_reads_sphere(fake_wsj0):
    corpus = Wsj0Corpus(fake_wsj0)
    assert corpus.speakers == ["011", "012", "013"]
    assert corpus.utterances("013") == ["013c0100", "013c0101", "013c0102"]
    audio = corpus.load("012", "012c0101")
    assert audio.dtype == np.float32 and audio.shape == (int(0.8 * 16000),)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - 260) < 3  # 200 + 50 + 10 Hz
    dev = get_corpus("wsj0", fake_wsj0 / "csr_1" / "11-1.1" / "wsj0", subsets=("si_dt_05",))
    assert dev.speakers == ["050"]


def test_wsj0_prefers_converted_wav(fake_wsj0):
    import soundfile as sf

    folder = fake_wsj0 / "csr_1" / "11-1.1" / "wsj0" / "si_tr_s" / "011"
    sf.write(str(folder / "011c0100.wav"), np.full(1600, 0.25, np.float32), 16000)
    corpus = Wsj0Corpus(fake_wsj0)
    assert corpus.path("011", "011c0100").suffix == ".wav"
    np.testing.assert_allclose(corpus.load("011", "011c0100"), 0.25, atol=1e-4)


def test_wsj0_shorten_without_sph2pipe_is_a_clear_error(tmp_path, monkeypatch, shorten_sphere):
    wv1 = tmp_path / "wsj0" / "si_tr_s" / "01a" / "01ac0101.wv1"
    shorten_sphere(wv1)
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    with pytest.raises(DataError, match="sph2pipe") as err:
        Wsj0Corpus(tmp_path)
    assert str(wv1) in str(err.value) and ".wav" in str(err.value)


def test_wsj0_shorten_decoded_through_sph2pipe(tmp_path, monkeypatch, shorten_sphere):
    import soundfile as sf

    wv1 = tmp_path / "wsj0" / "si_tr_s" / "01a" / "01ac0101.wv1"
    shorten_sphere(wv1)
    sf.write(str(wv1) + ".payload.wav", np.full(800, 0.5, np.float32), 16000, subtype="PCM_16")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "sph2pipe"  # stands in for sph2pipe: prints the wav decoded from argv[-1]
    script.write_text(
        f"#!{sys.executable}\nimport sys\nassert sys.argv[1:3] == ['-f', 'wav']\n"
        "sys.stdout.buffer.write(open(sys.argv[-1] + '.payload.wav', 'rb').read())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    audio = Wsj0Corpus(tmp_path).load("01a", "01ac0101")
    assert audio.shape == (800,)
    np.testing.assert_allclose(audio, 0.5, atol=1e-3)


def test_wsj0_layout_mismatch_names_expected_path(tmp_path):
    (tmp_path / "not_wsj").mkdir()
    with pytest.raises(DataError, match=r"wsj0/si_tr_s/<speaker>/<utt>\.wv1"):
        Wsj0Corpus(tmp_path)
    with pytest.raises(DataError, match="not found"):
        Wsj0Corpus(tmp_path / "missing")


def test_jvs_layout_and_band_limited_resampling(fake_jvs):
    corpus = JvsCorpus(fake_jvs)  # the parent of jvs_ver1 is accepted
    assert corpus.speakers == ["jvs001", "jvs002", "jvs003"]
    assert corpus.utterances("jvs002") == ["nonpara30/BASIC5000_0025", "parallel100/VOICEACTRESS100_001"]
    audio = corpus.load("jvs001", "parallel100/VOICEACTRESS100_001")
    assert corpus.sample_rate == 16000 and audio.shape == (int(0.9 * 16000),)
    freqs, power = welch(audio, fs=16000, nperseg=1024)
    at = lambda f: power[np.argmin(np.abs(freqs - f))]
    # the 1 kHz tone survives; the 10 kHz tone is filtered out instead of aliasing to 6 kHz
    assert at(1000) > 1e4 * at(6000)
    with pytest.raises(DataError, match=r"jvs001/parallel100/wav24kHz16bit"):
        JvsCorpus(fake_jvs / "jvs_ver1" / "jvs001")


def test_folder_corpus_any_rate_and_corrupt_file(fake_folder):
    corpus = FolderCorpus(fake_folder)
    assert corpus.speakers == ["alice", "bob", "carol"]
    assert corpus.utterances("bob") == ["session1/utt0", "session1/utt1", "session2/broken", "session2/utt2"]
    for spk in corpus.speakers:
        audio = corpus.load(spk, "session1/utt1")
        assert audio.shape == (int(0.7 * 16000),)
    with pytest.raises(AudioReadError, match="broken.wav"):
        corpus.load("bob", "session2/broken")
    with pytest.raises(DataError, match=r"<speaker>/\*\*/\*"):
        FolderCorpus(fake_folder / "alice" / "session2")


def test_corpus_union_is_speaker_disjoint(fake_folder):
    """Two corpora as one (the speaker-open zoo's training set); a speaker in both is an error."""
    from asteroid_mvae.data import CorpusUnion

    folder = FolderCorpus(fake_folder)
    builtin = BuiltinCorpus(n_speakers=2, utterances_per_speaker=3, seed=0)
    union = CorpusUnion([folder.subset(speakers=["alice", "carol"]), builtin])
    assert union.speakers == sorted(["alice", "carol", *builtin.speakers])
    assert union.utterances("carol") == folder.utterances("carol") and len(union) == 6 + 6
    np.testing.assert_array_equal(union.load("alice", "session1/utt1"), folder.load("alice", "session1/utt1"))
    np.testing.assert_array_equal(union.load(builtin.speakers[0], "u0001"), builtin.load(builtin.speakers[0], "u0001"))
    assert [p["name"] for p in union.describe()["parts"]] == ["folder", builtin.name]
    with pytest.raises(DataError, match="'alice' is in two corpora"):
        CorpusUnion([folder, folder.subset(speakers=["alice"])])
    with pytest.raises(DataError, match="unknown speaker"):
        union.utterances("bob")


def test_builtin_corpus_is_deterministic_and_speakers_differ():
    corpus = BuiltinCorpus(n_speakers=4, utterances_per_speaker=8, seed=3)
    assert corpus.speakers == sorted(corpus.speakers) and len(corpus.speakers) == 4
    a = corpus.load("synth001", "u0002")
    np.testing.assert_array_equal(
        a, BuiltinCorpus(n_speakers=4, utterances_per_speaker=8, seed=3).load("synth001", "u0002")
    )
    assert a.dtype == np.float32 and 1.5 * 16000 <= a.size <= 4 * 16000 and np.abs(a).max() < 1
    assert not np.array_equal(a[:16000], BuiltinCorpus(seed=4).load("synth001", "u0002")[:16000])

    def envelope(x):  # mean log power spectrum (speaker timbre and pitch)
        f, p = welch(x, fs=16000, nperseg=512)
        logp = np.log(p[f < 4000] + 1e-10)
        return logp - logp.mean()

    feats = {s: np.stack([envelope(corpus.load(s, u)) for u in corpus.utterances(s)]) for s in corpus.speakers}
    centroids = {s: f[:4].mean(0) for s, f in feats.items()}  # 4 utterances to learn, 4 to test
    correct = sum(
        min(centroids, key=lambda c: np.sum((x - centroids[c]) ** 2)) == s for s, f in feats.items() for x in f[4:]
    )
    assert correct / 16 >= 0.75  # chance: 0.25


def test_splits_are_seeded_and_disjoint():
    corpus = BuiltinCorpus(n_speakers=10, utterances_per_speaker=5)
    train, test = split_by_speaker(corpus, n_test=3, seed=1)
    assert len(test.speakers) == 3 and not set(train.speakers) & set(test.speakers)
    assert set(train.speakers) | set(test.speakers) == set(corpus.speakers)
    assert split_by_speaker(corpus, n_test=3, seed=1)[1].speakers == test.speakers
    assert split_by_speaker(corpus, n_test=3, seed=2)[1].speakers != test.speakers
    np.testing.assert_array_equal(test.load(test.speakers[0], "u0001"), corpus.load(test.speakers[0], "u0001"))
    tr, te = split_by_utterance(corpus, test_fraction=0.4, seed=0)
    assert tr.speakers == te.speakers == corpus.speakers
    for spk in corpus.speakers:
        assert len(te.utterances(spk)) == 2 and not set(tr.utterances(spk)) & set(te.utterances(spk))
    with pytest.raises(DataError):
        split_by_speaker(corpus, n_test=10)
