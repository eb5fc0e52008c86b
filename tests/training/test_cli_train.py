import pytest
import yaml

from asteroid_mvae.cli import main


def test_print_config_merges_preset_conf_and_flags(tmp_path, capsys):
    conf = tmp_path / "conf.yml"
    conf.write_text(yaml.safe_dump({"optim": {"lr": 0.5, "batch_size": 4}, "seed": 7}))
    code = main(["train", "--model", "acvae", "--preset", "cpu", "--conf", str(conf), "--batch-size", "2",
                 "--out", str(tmp_path / "exp"), "--print-config"])
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
