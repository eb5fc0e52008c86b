"""Hostile-input suite (issue 26): drawn formats, lengths, levels, channel counts, argument values
and file layouts for ``separate`` (and its deprecated alias ``infer``) and ``publish``.

For every draw: a correct output or exit 2 with one error line (never a traceback), no NaN in
any output, no file created or changed outside the output folder, no input changed, no
temporary file left behind. Seeded (``derandomize``): the same examples on every run.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from asteroid_mvae.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")
HOSTILE = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
N_FFT = 512


@pytest.fixture(autouse=True)
def no_broken_lazy_modules():
    """Hypothesis reads ``__file__`` of every loaded module; speechbrain's lazy placeholders raise on it."""
    import sys

    for name, module in list(sys.modules.items()):
        try:
            getattr(module, "__file__", None)
        except ImportError:
            del sys.modules[name]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from asteroid_mvae.models import ILRMA

    path = tmp_path_factory.mktemp("model") / "ilrma.pth"
    torch.save(ILRMA(n_iter=2, n_fft=N_FFT, hop_length=N_FFT // 2).serialize(), path)
    return path


@st.composite
def clean_inputs(draw):
    """A usable recording at a drawn level and name (the runs that must succeed)."""
    return (
        draw(st.sampled_from(["mix", "a b", "ünï", "-dash", "x.y"])),
        draw(st.sampled_from(["FLOAT", "PCM_16", "flac"])),
        draw(st.sampled_from([3, 4])),
        4000,
        draw(st.sampled_from([0.0, 1e-30, 0.1, 3e38])),
        16000,
    )


@st.composite
def inputs(draw):
    """``(name, kind, channels, samples, level, rate)`` of one input file."""
    kind = draw(st.sampled_from(["FLOAT", "FLOAT", "PCM_16", "flac", "text", "truncated", "empty"]))
    name = draw(st.sampled_from(["mix", "mix", "a b", "ünï", "-dash", "x.y"]))
    return (
        name,
        kind,
        draw(st.sampled_from([1, 2, 3, 3, 4])),
        draw(st.sampled_from([10, N_FFT - 1, 1200, 4000, 4000])),
        draw(st.sampled_from([0.0, 1e-30, 0.1, 1.0, 3e38])),
        draw(st.sampled_from([16000, 16000, 8000])),
    )


def write_input(folder: Path, spec, seed: int) -> Path:
    name, kind, channels, samples, level, rate = spec
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{'flac' if kind == 'flac' else 'txt' if kind == 'text' else 'wav'}"
    audio = np.random.default_rng(seed).standard_normal((samples, channels)) * level
    if kind == "text":
        path.write_text("not audio")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind in ("PCM_16", "flac"):
        sf.write(path, np.clip(audio, -1, 1), rate, subtype="PCM_16")
    else:
        sf.write(
            path,
            audio.astype(np.float32) if level < 3e38 else audio.clip(-3e38, 3e38).astype(np.float32),
            rate,
            subtype="FLOAT",
        )
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: max(44, len(data) * 2 // 3)])
    return path


def snapshot(root: Path, skip: Path = None) -> dict:
    """{relative path: (bytes, mtime_ns)} of every file under ``root`` outside ``skip``."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (skip is not None and p.is_relative_to(skip)):
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def check_outcome(code, capsys, out_dir: Path, existing=()):
    """Exit 0 or 2 with one error line; every new wav under ``out_dir`` (not in ``existing``) finite."""
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    event(f"exit {code}")
    assert code in (0, 2), (code, err)
    if code == 2:
        errors = [line for line in err if "error:" in line]
        assert len(errors) == 1 and not any("Traceback" in line for line in err), err
    if out_dir.is_dir():
        for wav in set(out_dir.rglob("*.wav")) - set(existing):
            assert np.isfinite(sf.read(wav)[0]).all(), wav
        assert not [p for p in out_dir.rglob(".*") if ".tmp" in p.name], "temporary files left"


@HOSTILE
@given(
    specs=st.one_of(st.lists(clean_inputs(), min_size=1, max_size=3), st.lists(inputs(), min_size=1, max_size=3)),
    n_src=st.sampled_from(["2"] * 5 + ["3", "0", "-1", "2.5", "99999999"]),
    n_iter=st.sampled_from(["2"] * 4 + ["0", "1e9", "x"]),
    layout=st.sampled_from(["fresh", "earlier_run", "inputs_folder", "a_file", "nested"]),
    force=st.booleans(),
    keep_going=st.booleans(),
)
def test_separate_under_hostile_inputs(
    tmp_path_factory, capsys, model_file, specs, n_src, n_iter, layout, force, keep_going
):
    root = tmp_path_factory.mktemp("hostile_sep")
    paths = [write_input(root / "in" / str(k % 2), spec, k) for k, spec in enumerate(specs)]
    out = {
        "fresh": root / "out",
        "earlier_run": root / "out",
        "inputs_folder": root / "in" / "0",
        "a_file": root / "taken",
        "nested": root / "out" / "deep" / "er",
    }[layout]
    if layout == "earlier_run":
        out.mkdir()
        sf.write(out / f"{paths[0].stem}_s1.wav", np.full(100, 0.25), 16000, subtype="FLOAT")  # an earlier result
        earlier = (out / f"{paths[0].stem}_s1.wav").read_bytes()
    if layout == "a_file":
        out.write_bytes(b"the user's file")
    before = snapshot(root, skip=out if out.is_dir() and layout != "inputs_folder" else None)
    inputs_before = {p: p.read_bytes() for p in paths}
    argv = (
        [
            "separate",
            *map(str, paths),
            "--model",
            str(model_file),
            "--n-src",
            n_src,
            "--n-iter",
            n_iter,
            "--out-dir",
            str(out),
        ]
        + (["-f"] if force else [])
        + (["--keep-going"] if keep_going else [])
    )
    existing = set(root.rglob("*.wav"))
    code = main(argv)
    check_outcome(code, capsys, out if out.is_dir() else root / "none", existing)
    assert {p: p.read_bytes() for p in paths} == inputs_before  # no input changed
    after = snapshot(root, skip=out if out.is_dir() and layout != "inputs_folder" else None)
    if layout == "inputs_folder":  # outputs beside the inputs: only new *_s<k>.wav files may appear
        assert all(after[k] == v for k, v in before.items()), "a file outside the outputs changed"
        assert all(Path(k).stem.rsplit("_s", 1)[-1].isdigit() for k in set(after) - set(before))
    else:
        assert after == before, "a file outside the output folder was created or changed"
    if layout == "earlier_run" and not force:
        assert (out / f"{paths[0].stem}_s1.wav").read_bytes() == earlier
    if code == 0:
        written = sorted(out.glob("*_s*.wav"))
        assert len(written) >= int(n_src) * len(set(paths)) - (1 if layout == "earlier_run" else 0)


@HOSTILE
@given(
    specs=st.one_of(st.lists(clean_inputs(), min_size=1, max_size=3), st.lists(inputs(), min_size=1, max_size=3)),
    use_folder=st.booleans(),
    force=st.booleans(),
    hop=st.sampled_from([None, "1", "0", "256"]),
    window=st.sampled_from([None, "100", "2048"]),
)
def test_infer_under_hostile_inputs(tmp_path_factory, capsys, model_file, specs, use_folder, force, hop, window):
    root = tmp_path_factory.mktemp("hostile_infer")
    paths = [write_input(root / "in" / str(k % 2), spec, k) for k, spec in enumerate(specs)]
    out = root / "out"
    before = snapshot(root)
    files = [str(root / "in")] if use_folder else [str(p) for p in paths]
    argv = ["infer", str(model_file), "--files", *files, "-o", str(out)] + (["-f"] if force else [])
    argv += (["--ola-hop", hop] if hop else []) + (["-w", window] if window else [])
    existing = set(root.rglob("*.wav"))
    code = main(argv)
    check_outcome(code, capsys, out, existing)
    assert snapshot(root, skip=out) == before  # inputs and everything else untouched


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(["fresh", "user_folder", "model_folder", "a_file", "cwd", "parent_of_model"]),
    metrics=st.sampled_from([None, "valid", "broken", "missing"]),
)
def test_publish_never_destroys_what_it_did_not_write(
    tmp_path_factory, capsys, monkeypatch, model_file, target, metrics
):
    root = tmp_path_factory.mktemp("hostile_pub")
    model_dir = root / "exp" / "train"
    model_dir.mkdir(parents=True)
    model = model_dir / "model.pth"
    model.write_bytes(model_file.read_bytes())
    (model_dir / "last.ckpt").write_bytes(b"checkpoint")
    (root / "user").mkdir()
    (root / "user" / "thesis.tex").write_text("years of work")
    (root / "taken").write_text("a file")
    monkeypatch.chdir(root)
    out = {
        "fresh": "pub",
        "user_folder": "user",
        "model_folder": str(model_dir),
        "a_file": "taken",
        "cwd": ".",
        "parent_of_model": "exp",
    }[target]
    argv = ["publish", str(model), "--out", out]
    if metrics:
        path = root / "m.json"
        if metrics != "missing":
            path.write_text('{"si_sdr": 5.0}' if metrics == "valid" else "{broken")
        argv += ["--metrics", str(path)]
    before = snapshot(root, skip=root / "pub")
    code = main(argv)
    check_outcome(code, capsys, root / "pub")
    assert snapshot(root, skip=root / "pub") == before  # nothing but the new publish folder
    assert (code == 0) == (target == "fresh" and metrics in (None, "valid"))
