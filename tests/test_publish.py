"""Publishing (asteroid's save_publishable layout + model card) and loading by path or hub id."""

import json
from pathlib import Path

import pytest
import torch

from asteroid_mvae.cli import main
from asteroid_mvae.models import ILRMA, FastMVAE2, load_model
from asteroid_mvae.publish import publish_model


def test_publish_writes_asteroid_layout_and_card(tmp_path, capsys):
    model = FastMVAE2(
        n_labels=2,
        n_freq=128,
        n_fft=256,
        hop_length=128,
        n_src=2,
        n_iter=5,
        label_map={"a": 0, "b": 1},
        training_info={"data": "builtin 2 speakers", "retrained": True},
    )
    folder = publish_model(
        model, tmp_path / "pub", {"si_sdr_imp": 7.5}, dataset="builtin", recipe="demo", train_conf={"lr": 1e-5}
    )
    conf = torch.load(folder / "model.pth", weights_only=True)
    assert conf["dataset"] == "builtin" and conf["licenses"] and conf["task"] == "sep_reverb"
    assert conf["infos"]["final_metrics"] == {"si_sdr_imp": 7.5} and conf["infos"]["recipe_name"] == "demo"
    assert conf["model_args"]["training_info"]["retrained"] is True
    card = (folder / "README.md").read_text()
    for text in ("asteroid_mvae.models.mvae.FastMVAE2", "si_sdr_imp", "7.500", "builtin", "retrained", "load_model"):
        assert text in card
    assert str(tmp_path) not in card  # no machine paths
    wav = torch.randn(1, 2, 4000)
    loaded = load_model(str(folder))
    assert torch.equal(loaded.forward_wav(wav), model.forward_wav(wav))
    assert loaded.training_info == model.training_info
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert "forget to share" not in capsys.readouterr().out  # asteroid's hint named the temporary folder


def test_publish_cli_reads_evaluation_metrics(tmp_path, capsys):
    torch.save(ILRMA(n_iter=3).serialize(), tmp_path / "model.pth")
    metrics = {"ilrma": {"N=2": {"si_sdr_imp": {"mean": 5.0, "std": 1.0}}}}
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    code = main(
        [
            "publish",
            str(tmp_path / "model.pth"),
            "--out",
            str(tmp_path / "pub"),
            "--metrics",
            str(tmp_path / "final_metrics.json"),
            "--method",
            "ilrma",
        ]
    )
    assert code == 0
    assert torch.load(tmp_path / "pub" / "model.pth", weights_only=True)["infos"]["final_metrics"] == {
        "N=2 si_sdr_imp": 5.0
    }
    assert main(["publish", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x")]) == 2
    assert "neither a model name" in capsys.readouterr().err
    metrics["auxiva"] = metrics["ilrma"]
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    assert (
        main(
            [
                "publish",
                str(tmp_path / "model.pth"),
                "--out",
                str(tmp_path / "pub2"),
                "--metrics",
                str(tmp_path / "final_metrics.json"),
            ]
        )
        == 2
    )  # which method? never silently "(none given)"
    assert "--method" in capsys.readouterr().err and not (tmp_path / "pub2").exists()


def test_publish_folder_passes_asteroid_upload_populate_step(tmp_path):
    """asteroid-upload's own code (minus the Zenodo network call) accepts the folder as written."""
    from asteroid.models.publisher import _populate_publishable

    folder = publish_model(
        ILRMA(n_iter=3), tmp_path / "ilrma_vcc", {"si_sdr_imp": 5.0}, dataset="vcc2018 reverberant", recipe="zoo"
    )
    model = _populate_publishable(torch.load(folder / "model.pth"), uploader="A Researcher", git_username="ar")
    assert "CC BY 4.0" in model["infos"]["license_note"] and "MIT" in model["infos"]["license_note"]
    assert model["infos"]["upload_name"].startswith("ar/ILRMA_vcc2018")
    assert (folder / "pytorch_model.bin").read_bytes() == (folder / "model.pth").read_bytes()


@pytest.mark.parametrize(
    "dataset, license, research_only",
    [("wsj0-2mix reverb", "other", True), ("jvs", "other", False), ("builtin", "mit", False)],
)
def test_model_card_front_matter_names_library_licences_and_data(tmp_path, dataset, license, research_only):
    from huggingface_hub import ModelCard

    folder = publish_model(ILRMA(n_iter=3), tmp_path / "m", {}, dataset=dataset, hub_id="lab/ilrma")
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "asteroid" and "asteroid" in card.data.tags
    assert card.data.license == license
    assert ("research only" in card.text) == research_only
    assert 'load_model("lab/ilrma")' in card.text and "not trained" in card.text


def test_recipe_publish_puts_each_n_own_metrics_in_its_card(tmp_path):
    from asteroid_mvae.recipes.publish import publish

    torch.save(ILRMA(n_iter=3).serialize(), tmp_path / "ilrma.pth")
    metrics = {"ilrma": {"N=2": {"si_sdr_imp": {"mean": 5.0}}, "N=3": {"si_sdr_imp": {"mean": 3.0}}}}
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    folders = publish(
        {"ilrma_n2": tmp_path / "ilrma.pth", "ilrma_n3": tmp_path / "ilrma.pth"},
        tmp_path / "pub",
        recipe="demo",
        metrics=str(tmp_path / "final_metrics.json"),
    )
    for folder, mine, other in zip(folders, ("N=2", "N=3"), ("N=3", "N=2")):
        final = torch.load(folder / "model.pth", weights_only=True)["infos"]["final_metrics"]
        assert list(final) == [f"{mine} si_sdr_imp"], final
        assert f"{mine} si_sdr_imp" in (folder / "README.md").read_text()


def test_hub_id_loads_from_the_cache_offline(tmp_path, monkeypatch):
    """A hub id that was downloaded once loads without network (the asteroid cache layout)."""
    import asteroid.utils.hub_utils as hub_utils
    import huggingface_hub

    monkeypatch.setattr(hub_utils, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    snapshot = tmp_path / "models--lab--ilrma-demo" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    torch.save(ILRMA(n_iter=4).serialize(), snapshot / "pytorch_model.bin")
    (tmp_path / "models--lab--ilrma-demo" / "refs").mkdir()
    (tmp_path / "models--lab--ilrma-demo" / "refs" / "main").write_text("0" * 40)
    assert load_model("lab/ilrma-demo", n_iter=6).n_iter == 6
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        load_model("lab/never-downloaded")


def test_published_folder_served_by_the_hub_cache_loads_by_id(tmp_path, monkeypatch):
    """The folder as published, in the layout ``hf_hub_download`` writes: our loader, the class's
    and asteroid's ``BaseModel.from_pretrained`` all resolve the hub id offline."""
    import shutil

    import asteroid.utils.hub_utils as hub_utils
    import huggingface_hub
    from asteroid.models.base_models import BaseModel

    model = FastMVAE2(n_labels=2, n_freq=128, n_fft=256, hop_length=128, n_src=2, n_iter=3, label_map={"a": 0, "b": 1})
    folder = publish_model(model, tmp_path / "pub", {}, dataset="builtin")
    cache = tmp_path / "cache"
    monkeypatch.setattr(hub_utils, "CACHE_DIR", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    repo = cache / "models--lab--fastmvae2-demo"
    snapshot = repo / "snapshots" / ("1" * 40)
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("1" * 40)
    wav = torch.randn(1, 2, 4000)
    expected = model.forward_wav(wav)
    for loaded in (
        load_model("lab/fastmvae2-demo"),
        FastMVAE2.from_pretrained("lab/fastmvae2-demo"),
        BaseModel.from_pretrained("lab/fastmvae2-demo"),
    ):
        assert isinstance(loaded, FastMVAE2)
        assert torch.equal(loaded.forward_wav(wav), expected)


def _machine_config(home, recipe):
    """A training configuration and summary as a training run on this machine writes them."""
    conf = {
        "exp_dir": str(recipe / "exp" / "train_chimera"),
        "teacher": str(recipe / "exp" / "cvae" / "network.pt"),
        "data": {
            "root": "/corpora/vcc2018",
            "csv": [str(recipe / "data" / "train.csv"), "~/lists/extra.csv"],
            "sample_rate": 16000,
        },
        "notes": f"started from {home}/checkpoints/last.ckpt on 2 GPUs",
        "lr": 1e-3,
        "n_src": [2, 3],
        "cache": str(home / ".cache" / "asteroid"),
        "link": "https://example.org/a/b",
    }
    info = {
        "retrained": True,
        "base_network": str(home / "models" / "cvae.pt"),
        "config": {"exp_dir": str(recipe / "exp" / "retrain"), "steps": 100},
    }
    return conf, info


def test_published_card_and_model_carry_no_machine_path(tmp_path, monkeypatch):
    """Absolute paths of the configuration and of the training summary become relative to the
    recipe (the current folder) or are left out and listed; the card has metrics, configuration
    and environment blocks; model.pth holds the same path-free configuration."""
    import platform

    import asteroid
    import yaml

    import asteroid_mvae
    from asteroid_mvae.publish import portable

    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    recipe = tmp_path / "work" / "egs" / "vcc2018"
    recipe.mkdir(parents=True)
    monkeypatch.chdir(recipe)
    conf, info = _machine_config(home, recipe)
    model = FastMVAE2(
        n_labels=2,
        n_freq=128,
        n_fft=256,
        hop_length=128,
        n_src=2,
        n_iter=3,
        label_map={"a": 0, "b": 1},
        training_info=info,
    )
    folder = publish_model(
        model,
        recipe / "exp" / "publish" / "fastmvae2",
        {"si_sdr_imp": 6.25},
        dataset="vcc2018",
        train_conf=conf,
        test_set="the vcc2018 test mixtures",
        train_command=f"asteroid-mvae train chimera --conf {recipe}/local/conf.yml --teacher {home}/cvae.pt",
    )
    card = (folder / "README.md").read_text()
    stored = torch.load(folder / "model.pth", weights_only=True)
    for text in (
        card,
        json.dumps(stored["infos"]["training_config"]),
        json.dumps(stored["model_args"]["training_info"]),
    ):
        assert str(tmp_path) not in text and "alice" not in text and "~/" not in text and "/corpora" not in text
    # relative to the recipe where they lie inside it; left out (and named) where they do not
    expected, dropped = portable(conf, [folder, recipe])
    assert expected == {
        "exp_dir": "exp/train_chimera",
        "teacher": "exp/cvae/network.pt",
        "data": {"csv": ["data/train.csv"], "sample_rate": 16000},
        "notes": "started from <local path> on 2 GPUs",
        "lr": 1e-3,
        "n_src": [2, 3],
        "link": "https://example.org/a/b",
    }
    assert dropped == ["data.root", "data.csv[1]", "cache"]
    assert stored["infos"]["training_config"] == expected
    assert stored["model_args"]["training_info"] == {
        "retrained": True,
        "config": {"exp_dir": "exp/retrain", "steps": 100},
    }
    assert load_model(str(folder)).training_info == stored["model_args"]["training_info"]
    # the sections, as asteroid's and ESPnet's cards have them
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    assert sections == ["## Use", "## Metrics", "## Configuration", "## Training", "## Environment"]
    metrics = card.split("## Metrics")[1].split("## Configuration")[0]
    assert "the vcc2018 test mixtures" in metrics and "| si_sdr_imp | 6.250 |" in metrics
    config_block = card.split("## Configuration")[1].split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(config_block) == expected
    assert "`data.root`, `data.csv[1]`, `cache`" in card
    environment = card.split("## Environment")[1]
    for name, version in (
        ("asteroid-mvae", asteroid_mvae.__version__),
        ("asteroid", asteroid.__version__),
        ("torch", torch.__version__.split("+")[0]),
        ("python", platform.python_version()),
    ):
        assert f"- {name}: `{version}" in environment, name
    assert "asteroid-mvae train chimera --conf local/conf.yml --teacher <local path>" in environment
    # without --train-command, the command the training summary recorded (if any)
    model.training_info = dict(info, command=f"asteroid-mvae train cvae --conf {recipe}/local/conf.yml")
    card = (publish_model(model, recipe / "exp" / "publish" / "again", {}) / "README.md").read_text()
    assert "- training command: `asteroid-mvae train cvae --conf local/conf.yml`" in card


def test_portable_keeps_what_is_not_a_path(tmp_path):
    from asteroid_mvae.publish import portable

    value = {
        "ratio": "1/2",
        "rate": "steps/s",
        "approx": "~3 dB",
        "url": "http://host/x/y",
        "n": 3,
        "none": None,
        "multi": "a\n/b",
        "empty": "",
        "nested": [("x", 1)],
        "key": {1: "/abs/a"},
    }
    clean, dropped = portable(value, [tmp_path])
    assert clean == {
        "ratio": "1/2",
        "rate": "steps/s",
        "approx": "~3 dB",
        "url": "http://host/x/y",
        "n": 3,
        "none": None,
        "multi": "a\n<local path>",
        "empty": "",
        "nested": [["x", 1]],
        "key": {},
    }
    assert dropped == ["key.1"]
    # never relative to the root or the home folder: that would keep the path's meaning
    assert portable({"p": "/etc/hosts"}, ["/"]) == ({}, ["p"])
    home = str(Path.home())
    assert portable({"p": home + "/data"}, [home]) == ({}, ["p"])


def test_publish_cli_train_command_and_relative_to(tmp_path, monkeypatch):
    import yaml

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    monkeypatch.chdir(tmp_path)
    torch.save(ILRMA(n_iter=3).serialize(), tmp_path / "model.pth")
    (tmp_path / "conf.yml").write_text(yaml.safe_dump({"exp_dir": str(recipe / "exp"), "root": "/data/x", "n_iter": 3}))
    code = main(
        [
            "publish",
            str(tmp_path / "model.pth"),
            "--out",
            str(tmp_path / "pub"),
            "--train-conf",
            str(tmp_path / "conf.yml"),
            "--relative-to",
            str(recipe),
            "--train-command",
            f"asteroid-mvae train cvae --conf {recipe}/conf.yml",
        ]
    )
    assert code == 0
    card = (tmp_path / "pub" / "README.md").read_text()
    assert str(tmp_path) not in card
    assert "exp_dir: exp\n" in card and "`root`" in card and "train cvae --conf conf.yml" in card
    (tmp_path / "list.yml").write_text("- 1\n- 2\n")
    assert (
        main(
            [
                "publish",
                str(tmp_path / "model.pth"),
                "--out",
                str(tmp_path / "pub2"),
                "--train-conf",
                str(tmp_path / "list.yml"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "pub2").exists()


def test_published_network_package_carries_no_machine_path(tmp_path, monkeypatch):
    """The network.pt a recipe ships beside model.pth: training summary path-free, weights and
    every other entry unchanged, still a loadable package."""
    from asteroid_mvae.networks import CVAE
    from asteroid_mvae.networks.package import load_network_package, save_network_package
    from asteroid_mvae.publish import publish_network_package

    monkeypatch.chdir(tmp_path)
    net = CVAE(n_labels=2, n_freq=16)
    info = {"config": {"exp_dir": str(tmp_path / "exp" / "cvae"), "data": {"root": "/corpora/x"}}, "steps": 5}
    save_network_package(tmp_path / "network.pt", net, 2.0, {"a": 0, "b": 1}, info)
    out = publish_network_package(tmp_path / "network.pt", tmp_path / "pub" / "network.pt")
    loaded, package = load_network_package(out)
    assert package["training"] == {"config": {"exp_dir": "exp/cvae", "data": {}}, "steps": 5}
    assert str(tmp_path) not in json.dumps(package["training"])
    original = torch.load(tmp_path / "network.pt", weights_only=True)
    assert {k: v for k, v in package.items() if k not in ("training", "state_dict")} == {
        k: v for k, v in original.items() if k not in ("training", "state_dict")
    }
    assert all(torch.equal(package["state_dict"][k], v) for k, v in original["state_dict"].items())
