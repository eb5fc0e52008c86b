"""Hostile-input report, sections 1 and 4: no command destroys data it did not write.

publish replaces only a folder it wrote itself; separate (and its alias infer) never overwrites an input,
check every input before the first output and write each mixture's sources all or none;
separate needs -f to replace an earlier run's outputs; SIGTERM removes temporary files as
Ctrl-C does; mixture ids are read one way (simulate's ``mixture_ID``) and must be unique.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asteroid_mvae.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def _noise_wav(path, seconds=0.5, channels=2, seed=0, rate=16000):
    audio = np.random.default_rng(seed).standard_normal((int(rate * seconds), channels)).astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * audio, rate, subtype="FLOAT")
    return path


def _one_error_line(capsys, *needles):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "error:" in err[0] and all(n in err[0] for n in needles), err
    assert "Traceback" not in err[0]
    return err[0]


def _tree(folder):
    """{relative path: bytes} of every file under ``folder`` (hidden ones too)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temporaries(folder):
    return [p for p in Path(folder).rglob(".*") if ".tmp" in p.name or ".old." in p.name]


@pytest.fixture
def ilrma_pth(tmp_path):
    from asteroid_mvae.models import load_model

    path = tmp_path / "models" / "ilrma.pth"
    path.parent.mkdir()
    torch.save(load_model("ilrma", n_iter=2).serialize(), path)
    return path


# --- publish -------------------------------------------------------------------------------------


def test_publish_refuses_a_folder_it_did_not_write(tmp_path, capsys, ilrma_pth):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    (out / "data").mkdir()
    (out / "data" / "x.wav").write_bytes(b"RIFF")
    before = _tree(out)
    assert main(["publish", str(ilrma_pth), "--out", str(out)]) == 2
    _one_error_line(capsys, "--out", str(out), "not a folder written by publish")
    assert _tree(out) == before and not _temporaries(tmp_path)


def test_publish_refuses_the_models_own_training_folder(tmp_path, capsys):
    from asteroid_mvae.models import load_model

    train = tmp_path / "exp" / "train"
    (train / "checkpoints").mkdir(parents=True)
    torch.save(load_model("ilrma", n_iter=2).serialize(), train / "model.pth")
    (train / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (train / "log.txt").write_text("epoch 1")
    before = _tree(train)
    for out in (train, train.parent):  # the folder, or one holding it
        assert main(["publish", str(train / "model.pth"), "--out", str(out)]) == 2
        _one_error_line(capsys, "--out", "holds the model being published")
        assert _tree(train) == before
    assert main(["publish", str(train), "--out", str(train)]) == 2  # the model given by its folder
    _one_error_line(capsys, "holds the model being published")
    assert _tree(train) == before and not _temporaries(tmp_path)


def test_publish_refuses_an_existing_file_and_the_current_folder(tmp_path, capsys, monkeypatch, ilrma_pth):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert main(["publish", str(ilrma_pth), "--out", str(target)]) == 2
    _one_error_line(capsys, "--out", "existing file")
    assert target.read_text() == "keep me" and not _temporaries(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a")
    monkeypatch.chdir(work)
    assert main(["publish", str(ilrma_pth), "--out", "."]) == 2
    _one_error_line(capsys, "--out")
    assert _tree(work) == {"a.txt": b"a"} and not _temporaries(tmp_path)


def test_publish_replaces_a_folder_it_wrote_itself(tmp_path, capsys, ilrma_pth):
    from asteroid_mvae.publish import PUBLISH_MARKER

    out = tmp_path / "pub"
    metrics = tmp_path / "m.json"
    for value in (1.0, 2.0):  # a second publish replaces the first one's folder
        metrics.write_text(json.dumps({"si_sdr_imp": value}))
        assert main(["publish", str(ilrma_pth), "--out", str(out), "--metrics", str(metrics)]) == 0
        assert torch.load(out / "model.pth", weights_only=True)["infos"]["final_metrics"] == {"si_sdr_imp": value}
    assert (out / PUBLISH_MARKER).is_file()
    (out / "conf.yml").write_text("lr: 1\n")  # what the recipes' publish step adds is still publish's
    assert main(["publish", str(ilrma_pth), "--out", str(out)]) == 0
    assert not (out / "conf.yml").exists() and not _temporaries(tmp_path)
    # a folder of an earlier version (no marker, exactly publish's files) is recognised too
    (out / PUBLISH_MARKER).unlink()
    assert main(["publish", str(ilrma_pth), "--out", str(out)]) == 0
    # but a file publish did not write makes the folder the user's: refused, untouched
    (out / "my_results.csv").write_text("a,b\n")
    before = _tree(out)
    capsys.readouterr()
    assert main(["publish", str(ilrma_pth), "--out", str(out)]) == 2
    _one_error_line(capsys, "not a folder written by publish")
    assert _tree(out) == before


def test_publish_model_library_call_refuses_too(tmp_path):
    from asteroid_mvae.models import load_model
    from asteroid_mvae.publish import PublishError, publish_model

    out = tmp_path / "folder"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(PublishError, match="not a folder written by publish"):
        publish_model(load_model("ilrma", n_iter=2), out, {})
    assert _tree(out) == {"keep.txt": b"x"} and not _temporaries(tmp_path)


# --- infer ---------------------------------------------------------------------------------------


def test_infer_never_overwrites_an_input(tmp_path, capsys, ilrma_pth):
    mix = _noise_wav(tmp_path / "in" / "mix.wav", seed=1)
    victim = _noise_wav(tmp_path / "in" / "mix_s1.wav", seed=2)  # also an input, named like mix's output
    before = _tree(tmp_path / "in")
    assert main(["infer", str(ilrma_pth), "--files", str(mix), str(victim), "-f"]) == 2
    _one_error_line(capsys, "would overwrite the input", str(victim))
    assert _tree(tmp_path / "in") == before
    # a folder: files named like another file's outputs are an earlier run's outputs, not inputs; without -f
    # they are kept (skipped, as asteroid-infer does), and never separated themselves
    assert main(["infer", str(ilrma_pth), "--files", str(tmp_path / "in")]) == 0
    assert (tmp_path / "in" / "mix_s1.wav").read_bytes() == before["mix_s1.wav"]
    assert not list((tmp_path / "in").glob("*_s1_s*"))


@pytest.mark.parametrize("force", [[], ["-f"]])
def test_infer_inputs_sharing_a_stem_get_their_own_outputs(tmp_path, capsys, ilrma_pth, force):
    first = _noise_wav(tmp_path / "a" / "mix.wav", seed=1)
    second = _noise_wav(tmp_path / "b" / "mix.wav", seed=2)
    out = tmp_path / "out"
    assert main(["infer", str(ilrma_pth), "--files", str(first), str(second), "-o", str(out), *force]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_mix_s1.wav", "a_mix_s2.wav", "b_mix_s1.wav", "b_mix_s2.wav"]
    assert not np.array_equal(sf.read(out / "a_mix_s1.wav")[0], sf.read(out / "b_mix_s1.wav")[0])


@pytest.mark.parametrize("bad", ["text", "truncated", "mono"])
def test_infer_checks_every_input_before_the_first_output(tmp_path, capsys, ilrma_pth, bad):
    good = _noise_wav(tmp_path / "good.wav")
    broken = tmp_path / "broken.wav"
    if bad == "text":
        broken = tmp_path / "notes.txt"
        broken.write_text("not audio at all")
        needle = "cannot read"
    elif bad == "truncated":
        data = _noise_wav(tmp_path / "full.wav", seconds=1.0).read_bytes()
        broken.write_bytes(data[: len(data) // 2])
        needle = "truncated wav"
    else:
        _noise_wav(broken, channels=1)
        needle = "mono file"
    out = tmp_path / "out"
    assert main(["infer", str(ilrma_pth), "--files", str(good), str(broken), "-o", str(out)]) == 2
    _one_error_line(capsys, str(broken), needle)
    assert not out.exists() or not list(out.iterdir())  # good.wav was not separated either


# --- separate ------------------------------------------------------------------------------------


def test_separate_needs_force_to_replace_an_earlier_run(tmp_path, capsys):
    mix = _noise_wav(tmp_path / "mix.wav")
    out = tmp_path / "out"
    args = ["separate", str(mix), "--out-dir", str(out), "--n-iter", "2"]
    assert main(args) == 0
    (out / "mix_s2.wav").write_bytes(b"edited by hand")
    before = _tree(out)
    capsys.readouterr()
    assert main(args) == 2
    _one_error_line(capsys, str(out / "mix_s1.wav"), "exists", "--force")
    assert _tree(out) == before
    assert main([*args, "-f"]) == 0
    assert sf.info(str(out / "mix_s2.wav")).channels == 1 and not _temporaries(out)
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    "bad, needle",
    [
        (lambda p: p.write_text("not audio"), "cannot read"),
        (lambda p: _noise_wav(p, channels=1), "mono file"),
        (lambda p: _noise_wav(p, rate=8000), "sample rate 8000"),
        (
            lambda p: p.write_bytes(_noise_wav(p.with_name("full.wav"), seconds=1.0).read_bytes()[:9000]),
            "truncated wav",
        ),
    ],
    ids=["text", "mono", "rate", "truncated"],
)
def test_separate_checks_every_input_before_the_first_separation(tmp_path, capsys, bad, needle):
    good = _noise_wav(tmp_path / "good.wav")
    later = tmp_path / "later.wav"
    bad(later)
    out = tmp_path / "out"
    assert main(["separate", str(good), str(later), "--out-dir", str(out), "--n-iter", "2"]) == 2
    _one_error_line(capsys, str(later), needle)
    assert not out.exists() or not list(out.iterdir())


def test_keep_going_skips_unreadable_inputs_and_separates_the_others(tmp_path, capsys, caplog):
    good = _noise_wav(tmp_path / "good.wav")
    text = tmp_path / "text.wav"
    text.write_text("not audio")
    last = _noise_wav(tmp_path / "last.wav", seed=3)
    out = tmp_path / "out"
    assert (
        main(["separate", str(good), str(text), str(last), "--out-dir", str(out), "--n-iter", "2", "--keep-going"]) == 2
    )
    err = capsys.readouterr().err
    assert "1 of 3 files failed" in err and str(text) in err
    assert any("cannot read" in r.getMessage() and str(text) in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in out.iterdir()) == ["good_s1.wav", "good_s2.wav", "last_s1.wav", "last_s2.wav"]


def test_a_mixtures_sources_appear_all_or_none(tmp_path, capsys, monkeypatch):
    import asteroid_mvae.utils.io as io

    mix = _noise_wav(tmp_path / "mix.wav")
    out = tmp_path / "out"
    real, calls = os.replace, []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", second_rename_fails)
    assert main(["separate", str(mix), "--out-dir", str(out), "--n-iter", "2"]) == 2
    monkeypatch.setattr(io.os, "replace", real)
    _one_error_line(capsys, "No space left on device")
    assert len(calls) == 2 and list(out.iterdir()) == []  # the first source, renamed, was removed again


def test_atomic_paths_is_all_or_none(tmp_path):
    from asteroid_mvae.utils.io import atomic_paths

    targets = [tmp_path / "a.txt", tmp_path / "b.txt"]
    with pytest.raises(RuntimeError):
        with atomic_paths(targets) as temporaries:
            temporaries[0].write_text("a")
            raise RuntimeError("failed between the two")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(targets) as temporaries:
        for tmp, text in zip(temporaries, "ab"):
            tmp.write_text(text)
    assert [p.read_text() for p in targets] == ["a", "b"] and len(list(tmp_path.iterdir())) == 2


# --- SIGTERM -------------------------------------------------------------------------------------


def test_sigterm_is_raised_as_an_interrupt_and_the_handler_restored():
    from asteroid_mvae.cli import Terminated, sigterm_as_interrupt

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # Python runs the handler between bytecodes, right after the kill
                pass
    assert isinstance(caught.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) == previous


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path):
    """A separate killed by SIGTERM while writing its outputs: exit 143, one line, no hidden
    temporary file and no output left (SIGTERM is what `kill`, timeouts and schedulers send)."""
    mix = _noise_wav(tmp_path / "mix.wav")
    out = tmp_path / "out"
    ready = tmp_path / "writing"
    script = textwrap.dedent(f"""
        import pathlib, sys, time
        import torch
        torch.set_num_threads(1)
        from scipy.io import wavfile
        real = wavfile.write
        def slow_write(path, rate, data):
            real(path, rate, data)
            pathlib.Path({str(ready)!r}).write_text(str(path))
            time.sleep(60)
        wavfile.write = slow_write
        from asteroid_mvae.cli import main
        sys.exit(main(["separate", {str(mix)!r}, "--out-dir", {str(out)!r}, "--n-iter", "2"]))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(1200):  # up to 120 s for torch to import on a busy machine
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "never started writing"
        assert Path(ready.read_text()).exists()  # a temporary file is there now
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 143, err
    assert len(lines) == 1 and "terminated" in lines[0] and "Traceback" not in err, err
    assert list(out.iterdir()) == []


# --- mixture ids (section 4) ---------------------------------------------------------------------


def _mixture_csv(folder, rows, id_column="mixture_ID"):
    """A tiny simulate-style mixture CSV: rows of (id or None, mixture path relative to folder)."""
    folder = Path(folder)
    lines = []
    for k, (mixture_id, rel) in enumerate(rows):
        images = np.random.default_rng(k).standard_normal((2, 2, 4000)).astype(np.float32) * 0.1
        mix = folder / rel
        mix.parent.mkdir(parents=True, exist_ok=True)
        sf.write(mix, images.sum(0).T, 16000, subtype="FLOAT")
        sources = []
        for s in range(2):
            src = mix.with_name(f"{mix.stem}_src{s + 1}.wav")
            sf.write(src, images[s].T, 16000, subtype="FLOAT")
            sources.append(str(src.relative_to(folder)))
        lines.append(([mixture_id] if id_column else []) + [rel, *sources])
    header = ([id_column] if id_column else []) + ["mixture_path", "source_1_path", "source_2_path"]
    text = "\n".join(",".join(line) for line in [header, *lines]) + "\n"
    (folder / "metadata.csv").write_text(text)
    return folder / "metadata.csv"


def _evaluate(csv, out):
    return main(
        [
            "evaluate",
            "--test-csv",
            str(csv),
            "--out",
            str(out),
            "--methods",
            "auxiva",
            "--metrics",
            "si_sdr",
            "--n-iter",
            "2",
            "--n-fft",
            "256",
            "--hop-length",
            "128",
            "--n-examples",
            "2",
            "--no-track",
            "--no-report",
        ]
    )


@pytest.mark.parametrize("id_column", ["mixture_ID", "mixture_id"])
def test_evaluate_uses_the_csvs_mixture_ids(tmp_path, capsys, id_column):
    import pandas as pd

    from asteroid_mvae.data.datasets import MixtureDataset

    csv = _mixture_csv(tmp_path / "data", [("roomA-01", "a/mix.wav"), ("roomB-01", "b/mix.wav")], id_column)
    out = tmp_path / "eval"
    assert _evaluate(csv, out) == 0
    frame = pd.read_csv(out / "all_metrics.csv")
    assert sorted(frame["mixture_id"]) == ["roomA-01", "roomB-01"]  # not the shared stem "mix"
    assert sorted(p.name for p in (out / "examples").iterdir()) == ["roomA-01", "roomB-01"]
    assert _evaluate(csv, out) == 0 and len(pd.read_csv(out / "all_metrics.csv")) == 2  # resumed: nothing skipped
    assert [MixtureDataset(csv).mixture_id(i) for i in (0, 1)] == ["roomA-01", "roomB-01"]  # the one reader


@pytest.mark.parametrize(
    "rows, id_column, duplicate",
    [
        ([("m1", "a/mix.wav"), ("m1", "b/mix.wav")], "mixture_ID", "m1"),
        ([(None, "a/mix.wav"), (None, "b/mix.wav")], None, "mix"),
    ],
    ids=["same-id", "same-stem-no-id"],
)
def test_evaluate_refuses_mixtures_sharing_an_id(tmp_path, capsys, rows, id_column, duplicate):
    from asteroid_mvae.data import DataError
    from asteroid_mvae.data.datasets import MixtureDataset

    csv = _mixture_csv(tmp_path / "data", rows, id_column)
    out = tmp_path / "eval"
    assert _evaluate(csv, out) == 2
    _one_error_line(capsys, f"'{duplicate}'", "twice")
    assert not out.exists()
    with pytest.raises(DataError, match=f"'{duplicate}' appears twice"):
        MixtureDataset(csv).ids


def test_evaluate_refuses_a_missing_audio_file_before_any_output(tmp_path, capsys):
    csv = tmp_path / "metadata.csv"
    csv.write_text("mixture_ID,mixture_path,source_1_path,source_2_path\nm1,missing.wav,a.wav,b.wav\n")
    out = tmp_path / "out"
    assert main(["evaluate", "--test-csv", str(csv), "--methods", "ilrma", "--out", str(out)]) == 2
    _one_error_line(capsys, "missing", "missing.wav")
    assert not out.exists()
