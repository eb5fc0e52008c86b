import pytest
import yaml

from asteroid_mvae.cli import main


def test_print_config_merges_preset_conf_and_flags(tmp_path, capsys):
    conf = tmp_path / "conf.yml"
    conf.write_text(yaml.safe_dump({"optim": {"lr": 0.5, "batch_size": 4}, "seed": 7}))
    code = main(
        [
            "train",
            "--model",
            "acvae",
            "--preset",
            "cpu",
            "--conf",
            str(conf),
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "exp"),
            "--print-config",
        ]
    )
    assert code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"] == "acvae" and config["seed"] == 7
    assert config["optim"] == {"lr": 0.5, "batch_size": 2, "weight_decay": 0.0}
    assert config["trainer"]["max_steps"] == 700  # the cpu preset for the ACVAE


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "cvae"], "--data"),
        (["--model", "cvae", "--data", "/no/such/dir"], "/no/such/dir"),
        (["--model", "chimera", "--data", "."], "--teacher"),
        (["--model", "cvae", "--conf", "/no/conf.yml"], "/no/conf.yml"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_recalibrate_command_rewrites_a_package_with_new_statistics(tmp_path, capsys):
    """A package trained without recalibration gets its BatchNorm statistics recomputed on its data."""
    import torch

    from asteroid_mvae.data.corpora import BuiltinCorpus
    from asteroid_mvae.data.rooms import RoomConfig, simulate_speakers
    from asteroid_mvae.networks import load_network_package

    simulate_speakers(
        BuiltinCorpus(n_speakers=2, utterances_per_speaker=2),
        tmp_path / "spk",
        n_per_speaker=3,
        config=RoomConfig(duration=1.0, rt60=0.15),
    )
    conf = tmp_path / "conf.yml"
    conf.write_text(
        yaml.safe_dump(
            {
                "network": {"n_freq": 1024},
                "batchnorm": {"recalibrate_batches": 0},
                "data": {"dataset_args": {"segment_frames": 8}, "scale_items": 4},
            }
        )
    )
    assert (
        main(
            [
                "train",
                "--model",
                "cvae",
                "--data",
                str(tmp_path / "spk"),
                "--out",
                str(tmp_path / "cvae"),
                "--conf",
                str(conf),
                "--max-steps",
                "2",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    before, _ = load_network_package(tmp_path / "cvae" / "network.pt")
    assert (
        main(
            [
                "recalibrate",
                "--network",
                str(tmp_path / "cvae" / "network.pt"),
                "--data",
                str(tmp_path / "spk"),
                "--out",
                str(tmp_path / "recal.pt"),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    after, package = load_network_package(tmp_path / "recal.pt")
    assert package["training"]["final_metrics"]["batchnorm_recalibration_batches"] >= 1
    norm = lambda net: net.encoder.layers[0].norm.running_var
    assert not torch.allclose(norm(before), norm(after))
    assert main(["recalibrate", "--network", str(tmp_path / "nope.pt"), "--data", str(tmp_path / "spk")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_frame_priors_train_from_the_command_line_config(tmp_path, capsys):
    for preset, lr in (("paper", 5e-5), ("cpu", 5e-4)):
        code = main(["train", "--model", "wgan", "--preset", preset, "--out", str(tmp_path / "exp"), "--print-config"])
        assert code == 0
        config = yaml.safe_load(capsys.readouterr().out)
        assert config["model"] == "wgan" and config["network"]["latent_dim"] == 32
        assert config["optim"]["lr"] == lr and config["loss"]["critic_clip"] == 0.01
