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
    path = tmp_path / "mix.wav"
    sf.write(path, np.zeros((16000, 2)), 16000)
    assert main(["separate", str(path), "--model", "nomodel"]) == 2
    assert "neither a model name" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    assert main(["separate", str(path), "--model", str(tmp_path / "folder")]) == 2
    assert "holds no model.pth" in capsys.readouterr().err


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
    assert "--n-iter must be at least 1" in capsys.readouterr().err
    assert main(["separate", str(path), "--n-src", "0"]) == 2
    assert "--n-src must be at least 1" in capsys.readouterr().err


def test_refine_steps_option(tmp_path, capsys):
    """``--refine-steps`` sets a FastMVAE2 package's refinement (the output differs from the plain
    one's); a negative count and a model without an encoder are one-line errors."""
    import torch

    from asteroid_mvae.networks import ChimeraACVAE, save_network_package

    torch.manual_seed(0)
    net = ChimeraACVAE(n_labels=2, n_freq=128)
    with torch.no_grad():
        net.decoder.layers[-1].weight.mul_(10)  # an untrained decoder whose output depends on its input
    package = save_network_package(tmp_path / "network.pt", net, 1.0, {"a": 0, "b": 1})
    path = _noise_wav(tmp_path / "mix.wav", seconds=2.0)
    outs = {}
    for steps in ("0", "2"):
        out = tmp_path / f"out{steps}"
        assert (
            main(
                [
                    "separate",
                    str(path),
                    "--model",
                    str(package),
                    "--n-iter",
                    "3",
                    "--refine-steps",
                    steps,
                    "--out-dir",
                    str(out),
                ]
            )
            == 0
        )
        outs[steps] = sf.read(out / "mix_s1.wav")[0]
    assert not np.array_equal(outs["0"], outs["2"])
    assert main(["separate", str(path), "--refine-steps", "-1"]) == 2
    assert "--refine-steps must be at least 0" in capsys.readouterr().err
    assert (
        main(["separate", str(path), "--model", "ilrma", "--refine-steps", "2", "--out-dir", str(tmp_path / "x")]) == 2
    )
    assert "applies to FastMVAE and FastMVAE2 models, not to ILRMA" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_init_ilrma_option(tmp_path, capsys):
    """``--init-ilrma K`` starts a deep separator from K ILRMA iterations (the output differs from the
    identity start's); a negative count and a model without a deep source model are one-line errors."""
    import torch

    from asteroid_mvae.networks import ChimeraACVAE, save_network_package

    torch.manual_seed(0)
    net = ChimeraACVAE(n_labels=2, n_freq=128)
    package = save_network_package(tmp_path / "network.pt", net, 1.0, {"a": 0, "b": 1})
    path = _noise_wav(tmp_path / "mix.wav", seconds=2.0)
    outs = {}
    for k in ("0", "3"):
        out = tmp_path / f"out{k}"
        command = ["separate", str(path), "--model", str(package), "--n-iter", "2", "--init-ilrma", k]
        assert main(command + ["--out-dir", str(out)]) == 0
        outs[k] = sf.read(out / "mix_s1.wav")[0]
    assert not np.array_equal(outs["0"], outs["3"])
    assert main(["separate", str(path), "--init-ilrma", "-1"]) == 2
    assert "--init-ilrma must be at least 0" in capsys.readouterr().err
    assert main(["separate", str(path), "--model", "ilrma", "--init-ilrma", "2", "--out-dir", str(tmp_path / "x")]) == 2
    assert "applies to the deep separators" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_fallback_option(tmp_path, capsys):
    """``--fallback envelope`` gives a deep separator its guard: the output is then the deep iterations'
    or the ILRMA start's, by the envelope test; other models are a one-line error."""
    import torch

    from asteroid_mvae.models import FastMVAE2
    from asteroid_mvae.networks import ChimeraACVAE, save_network_package

    torch.manual_seed(0)
    package = save_network_package(tmp_path / "network.pt", ChimeraACVAE(n_labels=2, n_freq=128), 1.0, {"a": 0, "b": 1})
    path = _noise_wav(tmp_path / "mix.wav", seconds=2.0)
    outs = {}
    for choice in ("none", "envelope"):
        out = tmp_path / f"out_{choice}"
        command = ["separate", str(path), "--model", str(package), "--n-iter", "2", "--init-ilrma", "3"]
        assert main(command + ["--fallback", choice, "--out-dir", str(out)]) == 0
        outs[choice] = sf.read(out / "mix_s1.wav")[0]
    model = FastMVAE2.from_network_package(package, n_src=2, n_iter=2, init_ilrma=3, fallback="envelope")
    wav = torch.from_numpy(sf.read(path, dtype="float32")[0].T.copy())
    kept = bool(model.separate_with_history(wav).result.kept_start[0])
    assert np.array_equal(outs["envelope"], outs["none"]) != kept
    assert (
        main(["separate", str(path), "--model", "ilrma", "--fallback", "envelope", "--out-dir", str(tmp_path / "x")])
        == 2
    )
    assert "--fallback applies to the deep separators" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_n_steps_option(tmp_path, capsys):
    """``--n-steps`` sets MVAE's Adam steps per iteration; other models and a count below 1 are
    one-line errors."""
    import torch

    from asteroid_mvae.networks import CVAE, save_network_package

    torch.manual_seed(0)
    package = save_network_package(tmp_path / "network.pt", CVAE(n_labels=2, n_freq=128), 1.0, {"a": 0, "b": 1})
    path = _noise_wav(tmp_path / "mix.wav", seconds=2.0)
    outs = {}
    for steps in ("1", "3"):
        out = tmp_path / f"out{steps}"
        command = ["separate", str(path), "--model", str(package), "--n-iter", "2", "--init-ilrma", "2"]
        assert main(command + ["--n-steps", steps, "--out-dir", str(out)]) == 0
        outs[steps] = sf.read(out / "mix_s1.wav")[0]
    assert not np.array_equal(outs["1"], outs["3"])
    assert main(["separate", str(path), "--n-steps", "0"]) == 2
    assert "--n-steps must be at least 1" in capsys.readouterr().err
    assert main(["separate", str(path), "--model", "ilrma", "--n-steps", "2", "--out-dir", str(tmp_path / "x")]) == 2
    assert "applies to MVAE models, not to ILRMA" in capsys.readouterr().err
    # --lr: MVAE's Adam rate (another rate, another result; the default rate gives the default's bytes)
    command = ["separate", str(path), "--model", str(package), "--n-iter", "2", "--init-ilrma", "2", "--n-steps", "3"]
    assert main(command + ["--lr", "0.01", "--out-dir", str(tmp_path / "lr01")]) == 0
    assert np.array_equal(sf.read(tmp_path / "lr01" / "mix_s1.wav")[0], outs["3"])
    assert main(command + ["--lr", "0.05", "--out-dir", str(tmp_path / "lr05")]) == 0
    assert not np.array_equal(sf.read(tmp_path / "lr05" / "mix_s1.wav")[0], outs["3"])
    for bad in ("0", "-1", "nan"):
        assert main(["separate", str(path), "--lr", bad]) == 2
        assert "--lr must be a positive number" in capsys.readouterr().err
    assert main(["separate", str(path), "--model", "ilrma", "--lr", "0.1", "--out-dir", str(tmp_path / "y")]) == 2
    assert "--lr applies to MVAE models, not to ILRMA" in capsys.readouterr().err


def _noise_wav(path, seconds=1.0, channels=2, seed=0):
    audio = np.random.default_rng(seed).standard_normal((int(16000 * seconds), channels)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * audio, 16000, subtype="FLOAT")
    return path


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _one_error_line(capsys, *needles):
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1 and all(n in err[0] for n in needles), err
    return err[0]


@pytest.mark.parametrize(
    "write, needle",
    [
        (lambda p: p.write_text("hello"), "not a readable model file"),
        (lambda p: p.write_bytes(b""), "not a readable model file"),
        (lambda p: __import__("torch").save([1, 2], p), "not a saved model"),
        (lambda p: p.write_bytes(_half(p.with_name("good.pth").read_bytes())), "not a readable model file"),
    ],
    ids=["text", "empty", "pickled-list", "truncated"],
)
def test_unusable_model_files_are_one_line_errors(tmp_path, capsys, write, needle):
    from asteroid_mvae.models import load_model

    mix = _noise_wav(tmp_path / "mix.wav")
    import torch

    torch.save(load_model("ilrma").serialize(), tmp_path / "good.pth")
    bad = tmp_path / "bad.pth"
    write(bad)
    assert main(["separate", str(mix), "--model", str(bad), "--out-dir", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, str(bad), needle)


@pytest.mark.parametrize("device, needle", [("gpu", "not a torch device"), ("cuda:7", "cuda")])
def test_unavailable_devices_are_one_line_errors(tmp_path, capsys, device, needle):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    mix = _noise_wav(tmp_path / "mix.wav")
    assert main(["separate", str(mix), "--device", device, "--out-dir", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "--device", needle)


def test_same_stems_get_distinct_outputs(tmp_path):
    first = _noise_wav(tmp_path / "a" / "mix.wav", seed=1)
    second = _noise_wav(tmp_path / "b" / "mix.wav", seed=2)
    out = tmp_path / "out"
    assert main(["separate", str(first), str(second), "--out-dir", str(out), "--n-iter", "2"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_mix_s1.wav", "a_mix_s2.wav", "b_mix_s1.wav", "b_mix_s2.wav"]
    assert not np.array_equal(sf.read(out / "a_mix_s1.wav")[0], sf.read(out / "b_mix_s1.wav")[0])


def test_an_output_never_overwrites_an_input(tmp_path, capsys):
    mix = _noise_wav(tmp_path / "mix.wav", seed=1)
    victim = _noise_wav(tmp_path / "mix_s1.wav", seed=2)
    before = victim.read_bytes()
    assert main(["separate", str(mix), str(victim), "--out-dir", str(tmp_path), "--n-iter", "2"]) == 2
    _one_error_line(capsys, "would overwrite the input")
    assert victim.read_bytes() == before and not (tmp_path / "mix_s2.wav").exists()


def test_unwritable_out_dir_fails_before_separating(tmp_path, capsys):
    mix = _noise_wav(tmp_path / "mix.wav")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["separate", str(mix), "--out-dir", str(blocker), "--n-iter", "2"]) == 2
    _one_error_line(capsys, "--out-dir", "not a folder")
    assert main(["separate", str(mix), "--out-dir", str(blocker / "sub"), "--n-iter", "2"]) == 2
    _one_error_line(capsys, "--out-dir", "not writable")


def test_keep_going_separates_the_rest_and_fails_at_the_end(tmp_path, capsys):
    good = _noise_wav(tmp_path / "good.wav")
    short = _noise_wav(tmp_path / "short.wav", seconds=0.05)
    last = _noise_wav(tmp_path / "last.wav", seed=3)
    out = tmp_path / "out"
    assert main(["separate", str(short), str(good), "--out-dir", str(out), "--n-iter", "2"]) == 2
    assert "too short" in capsys.readouterr().err and not list(out.iterdir())
    assert (
        main(["separate", str(good), str(short), str(last), "--out-dir", str(out), "--n-iter", "2", "--keep-going"])
        == 2
    )
    assert "1 of 3 files failed" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["good_s1.wav", "good_s2.wav", "last_s1.wav", "last_s2.wav"]


def test_truncated_wav_is_refused(tmp_path, capsys):
    full = _noise_wav(tmp_path / "full.wav", seconds=2.0)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["separate", str(cut), "--out-dir", str(tmp_path / "out"), "--n-iter", "2"]) == 2
    _one_error_line(capsys, str(cut), "truncated wav")
    assert main(["separate", str(full), "--out-dir", str(tmp_path / "out"), "--n-iter", "2"]) == 0


def test_extreme_levels_separate_like_normal_ones(tmp_path):
    """Finite input never gives NaN: peaks near 1e30 (e.g. a float wav of random bytes) or 1e-30."""
    import torch

    from asteroid_mvae.models import load_model

    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32))
    for name in ("ilrma", "auxiva"):
        model = load_model(name, n_iter=3)
        reference = model.forward_wav(audio)
        for scale in (1e30, 1e-30):
            estimates = model.forward_wav(audio * scale)
            assert torch.isfinite(estimates).all()
            torch.testing.assert_close(
                estimates / scale, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max())
            )


def test_dependent_channels_are_refused_unless_enough_remain(tmp_path, capsys):
    rng = np.random.default_rng(0)
    five = rng.standard_normal((16000, 5)).astype(np.float32) * 0.1
    path = tmp_path / "dup.wav"
    sf.write(path, np.concatenate([five, 0.5 * five[:, :3]], 1), 16000, subtype="FLOAT")  # 8 channels, rank 5
    assert main(["separate", str(path), "--n-src", "8", "--n-iter", "3", "--out-dir", str(tmp_path / "a")]) == 2
    _one_error_line(capsys, "span only 5 independent")
    assert main(["separate", str(path), "--n-src", "5", "--n-iter", "3", "--out-dir", str(tmp_path / "b")]) == 0
    for k in range(1, 6):
        assert np.isfinite(sf.read(tmp_path / "b" / f"dup_s{k}.wav")[0]).all()


class _RunsCode:
    """A pickle that runs a shell command when unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_crafted_model_file_is_refused_in_one_line_and_runs_nothing(tmp_path, capsys):
    import pickle

    mix = _noise_wav(tmp_path / "mix.wav")
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(_RunsCode(tmp_path / "PWNED")))
    capsys.readouterr()
    assert main(["separate", str(mix), "--model", str(evil), "--out-dir", str(tmp_path / "out")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "refused" in err[0] and "weights_only=False" not in err[0], err
    assert not (tmp_path / "PWNED").exists()


def test_one_command_for_folders_resampling_chunks_and_resuming(tmp_path, capsys, caplog):
    """``separate`` takes a folder, resamples (-r), separates in chunks (-w) and resumes
    (--skip-existing): outputs <stem>_s<k>.wav at each input's rate, an earlier run's outputs
    beside the inputs are not inputs, and a rerun without -f or --skip-existing is refused."""
    folder = tmp_path / "in"
    _noise_wav(folder / "a.wav", seconds=1.5, seed=1)
    low = folder / "sub" / "b.wav"
    low.parent.mkdir()
    sf.write(low, np.random.default_rng(2).standard_normal((12000, 2)).astype(np.float32) * 0.1, 8000)
    _noise_wav(folder / "a_s1.wav", seed=3)  # named like a.wav's output: an earlier run's, not an input
    out = tmp_path / "out"
    argv = ["separate", str(folder), "--out-dir", str(out), "--n-iter", "2", "-w", "8192", "--ola-hop", "4096"]
    assert main(argv) == 2  # b.wav is at 8 kHz: refused before any output
    _one_error_line(capsys, str(low), "8000 Hz", "-r/--resample")
    assert not out.exists() or not list(out.iterdir())
    assert main(argv + ["-r"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_s1.wav", "a_s2.wav", "b_s1.wav", "b_s2.wav"]
    assert sf.info(str(out / "b_s1.wav")).samplerate == 8000 and sf.info(str(out / "a_s1.wav")).samplerate == 16000
    assert sf.info(str(out / "a_s1.wav")).frames == 24000
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(argv + ["-r"]) == 2  # an earlier run's outputs: refused without -f
    _one_error_line(capsys, "exists already", "--force")
    (out / "b_s1.wav").unlink()
    (out / "b_s2.wav").unlink()
    assert main(argv + ["-r", "--skip-existing"]) == 0  # only b.wav again
    assert "skipping" in caplog.text and str(folder / "a.wav") in caplog.text
    assert (out / "a_s1.wav").read_bytes() == before["a_s1.wav"] and (out / "b_s2.wav").read_bytes() == before[
        "b_s2.wav"
    ]


def test_chunked_separation_without_overlap_reorder_matches_whole_file_when_the_window_covers_it(tmp_path):
    """A window longer than the file is one chunk: the same samples as no chunking."""
    path = _noise_wav(tmp_path / "mix.wav", seconds=1.0)
    assert main(["separate", str(path), "--out-dir", str(tmp_path / "whole"), "--n-iter", "3"]) == 0
    assert main(["separate", str(path), "--out-dir", str(tmp_path / "chunk"), "--n-iter", "3", "-w", "32000"]) == 0
    for k in (1, 2):
        np.testing.assert_array_equal(
            sf.read(tmp_path / "whole" / f"mix_s{k}.wav")[0], sf.read(tmp_path / "chunk" / f"mix_s{k}.wav")[0]
        )


def test_infer_is_a_deprecated_alias_writing_the_same_files(tmp_path, capsys):
    import torch

    from asteroid_mvae.cli import build_parser
    from asteroid_mvae.models import load_model

    torch.save(load_model("ilrma", n_iter=2).serialize(), tmp_path / "ilrma.pth")
    path = _noise_wav(tmp_path / "data" / "mix.wav")
    assert main(["separate", str(path), "--model", str(tmp_path / "ilrma.pth"), "-o", str(tmp_path / "sep")]) == 0
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(path)]) == 0  # beside the input
    for k in (1, 2):
        assert (tmp_path / "data" / f"mix_s{k}.wav").read_bytes() == (tmp_path / "sep" / f"mix_s{k}.wav").read_bytes()
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(tmp_path / "data")]) == 0  # outputs kept
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mix.wav", "mix_s1.wav", "mix_s2.wav"]
    infer_help = build_parser("infer")._subparsers._group_actions[0].choices["infer"]
    assert infer_help.description.startswith("Deprecated: use `asteroid-mvae separate")


def test_postfilter_option(tmp_path, capsys, room, sisdri):
    """``--postfilter mwf`` re-estimates ILRMA's sources by the Wiener filters they imply, also at
    M = N (other outputs, still separated); a model outside the IVA family is a one-line error."""
    from asteroid_mvae.models import SupervisedNMFSeparator
    from asteroid_mvae.models.base import with_postfilter

    mixture, references = room(2, 0.3)
    path = tmp_path / "mix.wav"
    sf.write(path, mixture.T, 16000)
    outs = {}
    for option in ("none", "mwf"):
        out = tmp_path / option
        assert main(["separate", str(path), "--n-iter", "30", "--postfilter", option, "--out-dir", str(out)]) == 0
        outs[option] = np.stack([sf.read(out / f"mix_s{k}.wav")[0] for k in (1, 2)])
    assert not np.allclose(outs["none"], outs["mwf"])
    assert sisdri(outs["mwf"], references, mixture[0]) > 3.0
    assert main(["separate", str(path), "--postfilter", "wiener"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="applies to the IVA-family separators"):
        with_postfilter(SupervisedNMFSeparator(n_labels=2, n_basis=2), "mwf")


def test_evaluate_mwf_adds_a_post_filtered_row_per_iva_method(tmp_path, capsys):
    """``evaluate --mwf``: '<method>_mwf' rows for catalogue IVA names and loaded IVA models, none for
    the others; a name it would add that --methods already has is a one-line error."""
    import pandas as pd
    import torch

    from asteroid_mvae.models import ILRMA

    torch.save(ILRMA(n_src=2, n_iter=10).serialize(), tmp_path / "ilrma.pth")
    common = ["evaluate", "--toy", "1", "--metrics", "si_sdr", "--n-iter", "10", "--n-examples", "0", "--no-track"]
    methods = ["--methods", "ilrma", f"saved={tmp_path / 'ilrma.pth'}", "irm"]
    assert main(common + methods + ["--mwf", "--out", str(tmp_path / "eval")]) == 0
    rows = pd.read_csv(tmp_path / "eval" / "all_metrics.csv").set_index("method")["si_sdr"]
    assert sorted(rows.index) == ["ilrma", "ilrma_mwf", "irm", "saved", "saved_mwf"]
    assert rows["ilrma_mwf"] != rows["ilrma"] and rows["saved_mwf"] == rows["ilrma_mwf"]
    capsys.readouterr()
    clash = ["--methods", "ilrma", f"ilrma_mwf={tmp_path / 'ilrma.pth'}", "--mwf", "--out", str(tmp_path / "e2")]
    assert main(common + clash) == 2
    err = capsys.readouterr().err.strip()
    assert "already has" in err and len(err.splitlines()) == 1 and not (tmp_path / "e2").exists()


def test_a_post_filtered_name_is_built_per_n_src_and_only_for_the_iva_family():
    from asteroid_mvae.evaluation import PostFiltered, get_separator

    built = get_separator(PostFiltered("ilrma"), n_src=3, n_iter=5)
    assert built.postfilter == "mwf" and built.n_src == 3 and get_separator("ilrma").postfilter == "auto"
    with pytest.raises(ValueError, match="applies to the IVA-family separators"):
        get_separator(PostFiltered("pra_ilrma"), n_src=2)
