import numpy as np
import pytest
import soundfile as sf

from asteroid_mvae.cli import main


def test_separate_end_to_end(tmp_path, room, sisdri):
    mixture, references = room(2, 0.3)
    path = tmp_path / "mix.wav"
    sf.write(path, mixture.T, 16000)
    assert main(["separate", str(path), "--model", "auxiva", "--out-dir", str(tmp_path / "out"), "--n-iter", "30"]) == 0
    outs = [sf.read(tmp_path / "out" / f"mix_s{k}.wav")[0] for k in (1, 2)]
    assert sisdri(np.stack(outs), references, mixture[0]) > 3.0
    assert not list((tmp_path / "out").glob(".*tmp*"))  # no temporary files left behind


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: sf.write(p, np.zeros(16000), 16000), "mono file"),
        (lambda p: sf.write(p, np.zeros((16000, 2)), 8000), "sample rate 8000"),
        (lambda p: sf.write(p, np.zeros((16000, 2)), 16000), "3 sources requested"),
        (lambda p: p.write_text("not audio"), "cannot read"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, make, message):
    path = tmp_path / "in.wav"
    make(path)
    n_src = ["--n-src", "3"] if "sources" in message else []
    assert main(["separate", str(path), "--out-dir", str(tmp_path / "out"), *n_src]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_missing_file_and_unknown_model(tmp_path, capsys):
    assert main(["separate", str(tmp_path / "nope.wav")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["separate", str(tmp_path / "nope.wav"), "--model", "nomodel"]) == 2
    assert "neither a model name" in capsys.readouterr().err


def test_non_finite_samples_are_a_clear_error_and_write_nothing(tmp_path, capsys):
    audio = np.random.default_rng(0).standard_normal((16000, 2)).astype(np.float32)
    audio[1234, 1] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    assert main(["separate", str(path), "--out-dir", str(tmp_path / "out"), "--n-iter", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "non-finite" in err and "sample 1234" in err and str(path) in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("model", ["ilrma", "auxiva"])
def test_silent_file_separates_into_silence(tmp_path, model):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((16000, 2)), 16000)
    assert main(["separate", str(path), "--model", model, "--out-dir", str(tmp_path / "out"), "--n-iter", "3"]) == 0
    for k in (1, 2):
        out = sf.read(tmp_path / "out" / f"silent_s{k}.wav")[0]
        assert np.isfinite(out).all() and not out.any()


def test_nonpositive_iteration_counts_are_refused(tmp_path, capsys):
    path = tmp_path / "mix.wav"
    sf.write(path, np.zeros((16000, 2)), 16000)
    assert main(["separate", str(path), "--n-iter", "-5"]) == 2
    assert "n_iter must be at least 1" in capsys.readouterr().err
