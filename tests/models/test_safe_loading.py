"""Files never run code, whatever the environment; bad saved arguments and weights are one-line
errors; every constructor argument has one rule (issue 26, sections 2 and 3)."""

import inspect
import os
import pathlib
import pickle
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from asteroid_mvae import models
from asteroid_mvae.cli import main
from asteroid_mvae.models import ILRMA, FastMVAE2, load_model
from asteroid_mvae.models.arguments import RULES, check_args
from asteroid_mvae.networks import ChimeraACVAE, load_network_package, save_network_package
from asteroid_mvae.utils.safe_load import NOT_TENSORS_ONLY, load_tensors

UNSAFE_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class Payload:
    """Unpickling it (unsafely) touches ``marker``: the stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _evil_model(tmp_path, model_name="ILRMA"):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save(
        {"model_name": model_name, "model_args": {"n_iter": 2}, "state_dict": {}, "infos": Payload(marker)}, path
    )
    return path, marker


def _evil_package(tmp_path):
    marker = tmp_path / "ran"
    net = ChimeraACVAE(n_labels=2, n_freq=64)
    path = tmp_path / "evil_network.pt"
    torch.save(
        {
            "network": "ChimeraACVAE",
            "network_args": net.get_config(),
            "state_dict": net.state_dict(),
            "input_scale": 1.0,
            "label_map": {"a": 0, "b": 1},
            "training": {"x": Payload(marker)},
        },
        path,
    )
    return path, marker


@pytest.fixture(params=[False, True], ids=["default-env", "force-no-weights-only"])
def env(request, monkeypatch):
    if request.param:
        monkeypatch.setenv(UNSAFE_ENV, "1")
    else:
        monkeypatch.delenv(UNSAFE_ENV, raising=False)
    return request.param


def test_the_payload_runs_when_loaded_unsafely(tmp_path, monkeypatch):
    """The check below can fail: torch's full unpickling (what asteroid's own ``from_pretrained``
    does with the variable set) runs the payload."""
    path, marker = _evil_model(tmp_path)
    monkeypatch.setenv(UNSAFE_ENV, "1")
    from asteroid.models.base_models import BaseModel

    with pytest.warns(UserWarning):
        try:
            BaseModel.from_pretrained(str(path))
        except Exception:
            pass  # what happens after unpickling does not matter
    assert marker.exists()


@pytest.mark.parametrize("cls", [ILRMA, FastMVAE2], ids=lambda c: c.__name__)
def test_from_pretrained_never_runs_pickled_code(tmp_path, env, cls):
    path, marker = _evil_model(tmp_path, cls.__name__)
    with pytest.raises(ValueError, match=NOT_TENSORS_ONLY):
        cls.from_pretrained(str(path))
    with pytest.raises(ValueError, match=NOT_TENSORS_ONLY):
        cls.from_pretrained(path)  # a PathLike too
    assert not marker.exists()


@pytest.mark.parametrize(
    "reader",
    [load_tensors, lambda p: load_tensors(p, mmap=True), load_model, lambda p: load_network_package(p)],
    ids=["load_tensors", "load_tensors-mmap", "load_model", "load_network_package"],
)
def test_every_reader_refuses_pickled_code(tmp_path, env, reader):
    path, marker = _evil_package(tmp_path)
    with pytest.raises(ValueError, match=NOT_TENSORS_ONLY) as info:
        reader(str(path))
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)
    assert not marker.exists()


def test_mapped_loading_reads_the_same_tensors(tmp_path):
    """``mmap=True`` (re-training shards larger than memory) gives the saved values, backed by the file."""
    from asteroid_mvae.utils.io import save_torch

    saved = {"inputs": torch.randn(3, 2, 8, 5).half(), "meta": {"n_src": 2}}
    save_torch(saved, tmp_path / "shard.pt")
    loaded = load_tensors(tmp_path / "shard.pt", mmap=True)
    assert torch.equal(loaded["inputs"], saved["inputs"]) and loaded["meta"] == {"n_src": 2}
    if os.path.exists("/proc/self/maps"):  # the file is mapped, not read
        assert str(tmp_path / "shard.pt") in pathlib.Path("/proc/self/maps").read_text()


def test_all_model_classes_share_the_safe_from_pretrained():
    from asteroid_mvae.models.base import SafeLoadingModel
    from asteroid_mvae.models.oracle import IdealMask, OracleIP, OracleLS

    classes = [getattr(models, name) for name in models.__all__ if isinstance(getattr(models, name), type)]
    from asteroid_mvae import baselines

    classes = [c for c in classes if issubclass(c, torch.nn.Module)] + [OracleIP, OracleLS, IdealMask]
    classes += [
        baselines.DeepClustering,
        baselines.MixIT,
        baselines.SepFormer,
        baselines.PraSeparator,
        baselines.VAEBSS,
    ]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, SafeLoadingModel), cls
        assert cls.from_pretrained.__func__ is SafeLoadingModel.from_pretrained.__func__, cls


def test_saved_models_still_round_trip(tmp_path, env):
    model = ILRMA(n_iter=3, n_basis=3, seed=5)
    torch.save(model.serialize(), tmp_path / "ilrma.pth")
    loaded = ILRMA.from_pretrained(str(tmp_path / "ilrma.pth"), n_iter=4)
    assert isinstance(loaded, ILRMA) and (loaded.n_iter, loaded.n_basis, loaded.seed) == (4, 3, 5)
    deep = FastMVAE2(n_labels=2, n_freq=64, n_fft=128, hop_length=64, label_map={"a": 0, "b": 1})
    torch.save(deep.serialize(), tmp_path / "deep.pth")
    again = FastMVAE2.from_pretrained(tmp_path / "deep.pth")
    for key, value in deep.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    assert again.label_map == {"a": 0, "b": 1}
    package = save_network_package(tmp_path / "network.pt", ChimeraACVAE(n_labels=2, n_freq=64), 1.0, {"a": 0, "b": 1})
    assert isinstance(FastMVAE2.from_pretrained(str(package)), FastMVAE2)  # a package: from_network_package


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "model.pth"
    os.mkfifo(path)

    def unblock():  # should a reader open it after all, the test fails instead of hanging
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass

    timer = threading.Timer(10.0, unblock)
    timer.daemon = True
    timer.start()
    return path, timer


def test_a_fifo_is_refused_not_read(tmp_path):
    path, timer = _fifo(tmp_path)
    try:
        with pytest.raises(ValueError, match="not a regular file"):
            load_model(str(path))
        with pytest.raises(ValueError, match="not a regular file"):
            ILRMA.from_pretrained(str(path))
    finally:
        timer.cancel()


@pytest.mark.parametrize(
    "args, needle",
    [
        ({"n_basis": 0}, "n_basis must be an integer in [1, "),
        ({"n_iter": 2.5}, "n_iter must be an integer in [1, "),
        ({"ref_mic": 0.5}, "ref_mic must be an integer"),
        ({"n_iter": True}, "n_iter must be an integer"),
        ({"n_src": 10**9}, "n_src must be an integer in [2, 1024]; got 1000000000"),
        ({"sample_rate": float("nan")}, "sample_rate must be a finite number > 0"),
        ({"dtype": "float16"}, "dtype must be one of 'complex64', 'complex128'; got 'float16'"),
        ({"hop_length": "x"}, "hop_length must be an integer"),
        ({"no_such_argument": 1}, "its arguments do not fit ILRMA"),
    ],
)
def test_bad_saved_arguments_are_one_line_errors(tmp_path, args, needle):
    conf = ILRMA(n_iter=2).serialize()
    conf["model_args"].update(args)
    torch.save(conf, tmp_path / "bad.pth")
    for load in (load_model, ILRMA.from_pretrained):
        with pytest.raises(ValueError) as info:
            load(str(tmp_path / "bad.pth"))
        message = str(info.value)
        assert needle in message and str(tmp_path / "bad.pth") in message and "\n" not in message, message


def test_weights_of_another_shape_are_one_line_errors(tmp_path):
    conf = FastMVAE2(n_labels=2, n_freq=64, n_fft=128, hop_length=64).serialize()
    conf["model_args"].update(n_freq=128, n_fft=256, hop_length=128)  # the weights are n_freq=64's
    torch.save(conf, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="weights do not fit a FastMVAE2") as info:
        FastMVAE2.from_pretrained(str(tmp_path / "bad.pth"))
    assert "\n" not in str(info.value)


def _package(tmp_path, name, **change):
    net = ChimeraACVAE(n_labels=2, n_freq=64)
    package = {
        "network": "ChimeraACVAE",
        "network_args": net.get_config(),
        "state_dict": net.state_dict(),
        "input_scale": 1.0,
        "label_map": {"a": 0, "b": 1},
        "training": {},
    }
    package.update(change)
    torch.save(package, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"network_args": {"n_labels": 2, "n_freq": 128}}, "has shape"),
        ({"network_args": {"n_labels": 2, "n_freq": 0}}, "n_freq must be an integer in [1, "),
        ({"network_args": {"n_labels": 2, "n_freq": 60}}, "do not build one"),
        ({"network_args": {"n_labels": 2.5, "n_freq": 64}}, "n_labels must be an integer"),
        ({"network_args": [2, 64]}, "network_args must be a mapping"),
        ({"state_dict": {}}, "missing"),
        ({"input_scale": -1.0}, "input_scale must be a finite number > 0"),
        ({"network": "Nope"}, "unknown network"),
    ],
)
def test_bad_network_packages_are_one_line_errors(tmp_path, change, needle):
    path = _package(tmp_path, "bad.pt", **change)
    for load in (load_network_package, FastMVAE2.from_network_package, load_model):
        with pytest.raises(ValueError) as info:
            load(str(path))
        assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_every_constructor_argument_has_a_rule():
    """ONE validation: each argument of every model constructor is checked by :data:`RULES`."""
    from asteroid_mvae.models.gass import SingleChannelSeparator
    from asteroid_mvae.models.mvae import DeepSeparator
    from asteroid_mvae.models.oracle import IdealMask, OracleIP

    classes = [
        models.IterativeSeparator,
        models.ILRMA,
        models.AuxIVA,
        DeepSeparator,
        models.MVAE,
        models.SupervisedILRMA,
        SingleChannelSeparator,
        models.GASS,
        models.SupervisedNMFSeparator,
        models.FramePriorIVA,
        OracleIP,
        IdealMask,
    ]
    for cls in classes:
        names = [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        missing = [n for n in names if n not in RULES and n != "network"]
        assert not missing, (cls.__name__, missing)
    check_args("x", network="FrameGAN")  # (`network` is a choice resolved on first use)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("n_iter", 30.0, 30),
        ("n_iter", np.int64(7), 7),
        ("lr", 1, 1.0),
        ("track_objective", np.bool_(True), True),
        ("block_frames", None, None),
        ("speakers", (1, 2), [1, 2]),
    ],
)
def test_rules_normalise_good_values(name, value, expected):
    out = check_args("Model", **{name: value})[name]
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_iter", float("inf")),
        ("n_iter", "30"),
        ("n_iter", 0),
        ("n_iter", 100_001),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("variance_step", 1.5),
        ("track_objective", "true"),
        ("label_map", {"a": -1}),
        ("label_map", [1]),
        ("speakers", []),
        ("speakers", "01"),
        ("seed", -1),
        ("window", "box"),
        ("update", None),
    ],
)
def test_rules_refuse_bad_values_naming_them(name, value):
    with pytest.raises(ValueError) as info:
        check_args("Model", **{name: value})
    assert str(info.value).startswith(f"Model: {name}") and "must be" in str(info.value)


def test_input_at_the_edge_of_float32_separates_to_finite_output():
    """A finite wav of peak 3e38: the level factor was 2^128 = inf in float32 (the input became
    zeros); now the output is finite and at the input's scale."""
    from asteroid_mvae.models import AuxIVA
    from asteroid_mvae.models.base import engine_level

    x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    x = x / x.abs().max() * 3e38
    level = engine_level(x[None])
    assert torch.isfinite(level).all() and level.dtype == torch.float32
    for model in (AuxIVA(n_iter=3, n_fft=512, hop_length=256), ILRMA(n_iter=3, n_fft=512, hop_length=256)):
        try:
            y = model(x)
        except ValueError as err:  # the documented alternative: a clear one-line error
            assert "range" in str(err) and "\n" not in str(err)
            continue
        assert torch.isfinite(y).all() and y.abs().max() > 1e37


def test_single_channel_input_at_the_edge_of_float32():
    from asteroid_mvae.models import SupervisedNMFSeparator

    x = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    x = x / x.abs().max() * 3e38
    y = SupervisedNMFSeparator(n_iter=3, n_basis=2, n_fft=256, hop_length=64)(x)
    assert torch.isfinite(y).all() and y.abs().max() > 1e37


# --- the commands that read packages and models -------------------------------------------


def _one_error_line(capsys, *needles):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "error:" in err[0] and all(n in err[0] for n in needles), err
    assert "Traceback" not in err[0] and "weights_only=False" not in err[0]
    return err[0]


def _wav(path):
    audio = np.random.default_rng(0).standard_normal((16000, 2)).astype(np.float32)
    sf.write(path, 0.1 * audio, 16000, subtype="FLOAT")
    return path


def test_recalibrate_refuses_pickled_code(tmp_path, capsys, env):
    path, marker = _evil_package(tmp_path)
    (tmp_path / "data").mkdir()
    assert main(["recalibrate", "--network", str(path), "--data", str(tmp_path / "data")]) == 2
    _one_error_line(capsys, str(path), NOT_TENSORS_ONLY)
    assert not marker.exists()


def test_retrain_data_refuses_pickled_code(tmp_path, capsys, env):
    path, marker = _evil_package(tmp_path)
    csv = tmp_path / "mix.csv"
    csv.write_text("mixture_ID,mixture_path\n")
    assert main(["retrain-data", "--network", str(path), "--mixtures", str(csv), "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, str(path), NOT_TENSORS_ONLY)
    assert not marker.exists()


def test_separate_refuses_pickled_code(tmp_path, capsys, env):
    path, marker = _evil_model(tmp_path)
    mix = _wav(tmp_path / "mix.wav")
    assert main(["separate", str(mix), "--model", str(path), "--out-dir", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, str(path), NOT_TENSORS_ONLY)
    assert not marker.exists()


def test_separate_with_bad_saved_arguments_is_one_line(tmp_path, capsys):
    conf = ILRMA(n_iter=2).serialize()
    conf["model_args"]["n_basis"] = 0
    torch.save(conf, tmp_path / "bad.pth")
    mix = _wav(tmp_path / "mix.wav")
    assert main(["separate", str(mix), "--model", str(tmp_path / "bad.pth"), "--out-dir", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "n_basis must be an integer in [1, ", "got 0")


def test_separate_with_a_package_of_wrong_shapes_is_one_line(tmp_path, capsys):
    path = _package(tmp_path, "network.pt", network_args={"n_labels": 2, "n_freq": 128})
    mix = _wav(tmp_path / "mix.wav")
    assert main(["separate", str(mix), "--model", str(path), "--out-dir", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, str(path), "has shape")


def test_separate_with_a_fifo_as_model_is_one_line(tmp_path, capsys):
    path, timer = _fifo(tmp_path)
    mix = _wav(tmp_path / "mix.wav")
    try:
        assert main(["separate", str(mix), "--model", str(path), "--out-dir", str(tmp_path / "o")]) == 2
    finally:
        timer.cancel()
    _one_error_line(capsys, str(path), "not a regular file")


def test_unpickling_errors_never_reach_the_user_raw(tmp_path):
    """Sanity of the refusal path: torch's own error is an UnpicklingError suggesting weights_only=False."""
    path, _ = _evil_model(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only"):
        torch.load(path, weights_only=True)
