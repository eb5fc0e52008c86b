"""The named training presets resolve per network, and the folder recipe trains speaker-open."""

from pathlib import Path

import pytest
import yaml

from asteroid_mvae.training.presets import PRESETS, make_config


def test_speaker_open_preset_is_the_authors_scale_zoos_setting():
    """The zoo_authors networks: 16 x 128 frames at 1e-4 (the ChimeraACVAE too), until the validation
    NLL stops falling; the rest (validation split, trainer cadence) is cpu_long's."""
    cvae, chimera = make_config("cvae", "speaker_open"), make_config("fastmvae2", "speaker_open")
    assert chimera["model"] == "chimera"
    assert (cvae["optim"]["lr"], chimera["optim"]["lr"], cvae["optim"]["batch_size"]) == (1e-4, 1e-4, 16)
    assert cvae["trainer"]["max_steps"] == chimera["trainer"]["max_steps"] == 9000
    assert cvae["trainer"]["early_stop_patience"] == chimera["trainer"]["early_stop_patience"] == 5
    assert cvae["data"]["dataset_args"]["segment_frames"] == 128
    long = make_config("cvae", "cpu_long")
    assert cvae["data"]["val_fraction"] == long["data"]["val_fraction"] and cvae["trainer"]["limit_train_batches"] == 50
    assert long["data"]["dataset_args"]["segment_frames"] == 64 and long["optim"]["lr"] == 3e-4
    # user overrides still win over the preset's per-network settings
    assert make_config("chimera", "speaker_open", {"trainer": {"max_steps": 5}})["trainer"]["max_steps"] == 5


def test_unknown_preset_names_the_presets():
    with pytest.raises(ValueError, match="speaker_open"):
        make_config("cvae", "speaker-closed")


def test_folder_recipe_defaults_to_the_speaker_open_preset():
    conf = yaml.safe_load((Path(__file__).parents[2] / "egs/folder_reverb/local/conf.yml").read_text())
    assert conf["train"]["preset"] == "speaker_open" and "speaker_open" in PRESETS


def test_train_command_offers_every_preset(tmp_path, capsys):
    from asteroid_mvae.cli import main

    code = main(
        [
            "train",
            "--model",
            "fastmvae2",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "x"),
            "--preset",
            "speaker_open",
            "--print-config",
        ]
    )
    assert code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"] == "chimera" and config["trainer"]["max_steps"] == 9000


def test_speaker_open_preset_trains_as_the_authors_scale_zoo_did():
    """``zoo_vcc2018.py`` with stage 11's options (the networks the preset's results come from)
    resolves to the preset's optimiser, data and trainer settings."""
    import runpy
    import sys

    local = Path(__file__).parents[2] / "egs" / "vcc2018" / "local"
    sys.path.insert(0, str(local))
    try:
        zoo = runpy.run_path(str(local / "zoo_vcc2018.py"))
    finally:
        sys.path.remove(str(local))
    args = zoo["parse_args"](["--segment-frames", "128", "--early-stop-patience", "5"])
    for model, steps, lr in (("cvae", 9000, 1e-4), ("chimera", 9000, 1e-4)):
        zoo_config = make_config(model, "cpu_long", zoo["training_config"](args, steps, lr))
        preset = make_config(model, "speaker_open")
        for key in ("optim", "data", "trainer"):
            assert zoo_config[key] == preset[key], (model, key)
