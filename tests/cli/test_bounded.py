"""Bounded work and one-line errors of the commands (issue 26, sections 3 and 6): sizes are checked
before any work; any unexpected failure is one line naming it, exit code 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asteroid_mvae.cli import main

EGS = Path(__file__).resolve().parents[2] / "egs"


def _one_error_line(capsys, *needles):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "error:" in err[0] and all(n in err[0] for n in needles), err
    return err[0]


def _wav(path, channels=2):
    audio = np.random.default_rng(0).standard_normal((16000, channels)).astype(np.float32)
    sf.write(path, 0.1 * audio, 16000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "flag, needle",
    [("--n-iter", "n_iter must be an integer in [1, 100000]"), ("--n-src", "n_src must be an integer in [2, 1024]")],
)
def test_separate_refuses_enormous_sizes_before_work(tmp_path, capsys, flag, needle):
    mix = _wav(tmp_path / "mix.wav")
    assert main(["separate", str(mix), flag, str(10**9), "--out-dir", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, needle, "1000000000")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--n-iter", "1000000000", "--n-iter must be in [1, 100000]"),
        ("--n-src", "1000000000", "--n-src must be in [2, 1024]"),
        ("--duration", "nan", "--duration must be in (0, 3600]"),
    ],
)
def test_retrain_data_refuses_enormous_sizes_before_work(tmp_path, capsys, flag, value, needle):
    assert (
        main(
            [
                "retrain-data",
                "--network",
                str(tmp_path / "missing.pt"),
                "--corpus",
                "builtin",
                "--out",
                str(tmp_path / "out"),
                flag,
                value,
            ]
        )
        == 2
    )
    _one_error_line(capsys, needle)
    assert not (tmp_path / "out").exists()


def test_generate_retraining_data_bounds_n_iter(tmp_path):
    from asteroid_mvae.retraining import generate_retraining_data

    with pytest.raises(ValueError, match=r"n_iter must be an integer in \[1, 100000\]; got 1000000000"):
        generate_retraining_data(tmp_path / "missing.pt", [], tmp_path / "out", n_iter=10**9)


@pytest.mark.parametrize("error", [RuntimeError("boom\n  second line\n  third"), KeyError("key"), ZeroDivisionError()])
def test_unexpected_failures_are_one_line_naming_them(capsys, monkeypatch, error):
    from asteroid_mvae.cli import recalibrate

    def fail(args):
        raise error

    monkeypatch.setattr(recalibrate, "run", fail)
    assert main(["recalibrate", "--network", "n.pt", "--data", "d"]) == 2
    line = _one_error_line(capsys, "asteroid-mvae recalibrate: error:", type(error).__name__)
    assert "second line" not in line and "Traceback" not in line


@pytest.mark.parametrize("error", [ValueError("bad value\nmore"), TypeError("bad type")])
def test_value_and_type_errors_are_one_line(capsys, monkeypatch, error):
    from asteroid_mvae.cli import recalibrate

    monkeypatch.setattr(recalibrate, "run", lambda args: (_ for _ in ()).throw(error))
    assert main(["recalibrate", "--network", "n.pt", "--data", "d"]) == 2
    line = _one_error_line(capsys, str(error).splitlines()[0])
    assert "more" not in line


def test_train_conf_with_bad_yaml_is_one_line(tmp_path, capsys):
    conf = tmp_path / "conf.yml"
    conf.write_text("optim: {lr: [1, 2\n")
    assert main(["train", "--model", "cvae", "--out", str(tmp_path / "x"), "--conf", str(conf)]) == 2
    _one_error_line(capsys, str(conf), "not valid YAML")


def test_recalibrate_bounds_its_batches(tmp_path, capsys):
    assert main(["recalibrate", "--network", "n.pt", "--data", "d", "--batches", str(10**9)]) == 2
    _one_error_line(capsys, "--batches must be in [1, 1000000]")


def _run_sh(*args):
    return subprocess.run(
        ["bash", str(EGS / "demo" / "run.sh"), "--python", sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_recipe_set_values_may_hold_spaces(tmp_path):
    import yaml

    done = _run_sh(
        "--exp_dir",
        str(tmp_path / "exp"),
        "--set",
        "eval.methods=[ilrma, auxiva]",
        "--set",
        "eval.n_iter=7",
        "--stage",
        "99",
        "--stop_stage",
        "99",
    )
    assert done.returncode == 0, done.stderr
    conf = yaml.safe_load((tmp_path / "exp" / "conf.yml").read_text())
    assert conf["eval"]["methods"] == ["ilrma", "auxiva"] and conf["eval"]["n_iter"] == 7


@pytest.mark.parametrize("value", ["novalue", "=3", "a=1\nb=2", "a b=1"])
def test_recipe_malformed_set_is_one_line(tmp_path, value):
    done = _run_sh("--exp_dir", str(tmp_path / "exp"), "--set", value, "--stage", "99", "--stop_stage", "99")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "--set takes KEY=VALUE" in lines[0], done.stderr
    assert not (tmp_path / "exp").exists()


def test_chunk_hop_is_bounded_for_models_with_and_without_an_stft():
    """--ola-hop below the model's STFT hop, or below 1/64 of the window for a model without an
    STFT (a PIT network), is refused before any work."""
    from argparse import Namespace
    from types import SimpleNamespace

    import pytest

    from asteroid_mvae.cli import CliError
    from asteroid_mvae.cli.separate import check_chunks

    with_stft = SimpleNamespace(stft_config=SimpleNamespace(n_fft=2048, hop_length=512))
    without = SimpleNamespace()
    check_chunks(Namespace(ola_window=16000, ola_hop=512), with_stft)
    check_chunks(Namespace(ola_window=16000, ola_hop=250), without)
    for model, hop, needle in ((with_stft, 511, "STFT hop (512)"), (without, 249, "1/64 of --ola-window (250)")):
        with pytest.raises(CliError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            check_chunks(Namespace(ola_window=16000, ola_hop=hop), model)
    with pytest.raises(CliError, match="shorter than the model's STFT"):
        check_chunks(Namespace(ola_window=1000, ola_hop=None), with_stft)
