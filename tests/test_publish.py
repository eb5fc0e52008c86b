"""Publishing (asteroid's save_publishable layout + model card) and loading by path or hub id."""
import json

import pytest
import torch

from asteroid_mvae.cli import main
from asteroid_mvae.models import FastMVAE2, ILRMA, load_model
from asteroid_mvae.publish import publish_model


def test_publish_writes_asteroid_layout_and_card(tmp_path, capsys):
    model = FastMVAE2(n_labels=2, n_freq=128, n_fft=256, hop_length=128, n_src=2, n_iter=5, label_map={"a": 0, "b": 1},
                      training_info={"data": "builtin 2 speakers", "retrained": True})
    folder = publish_model(model, tmp_path / "pub", {"si_sdr_imp": 7.5}, dataset="builtin", recipe="demo",
                           train_conf={"lr": 1e-5})
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
    code = main(["publish", str(tmp_path / "model.pth"), "--out", str(tmp_path / "pub"), "--metrics",
                 str(tmp_path / "final_metrics.json"), "--method", "ilrma"])
    assert code == 0
    assert torch.load(tmp_path / "pub" / "model.pth", weights_only=True)["infos"]["final_metrics"] == {"N=2 si_sdr_imp": 5.0}
    assert main(["publish", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x")]) == 2
    assert "neither a model name" in capsys.readouterr().err
    metrics["auxiva"] = metrics["ilrma"]
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    assert main(["publish", str(tmp_path / "model.pth"), "--out", str(tmp_path / "pub2"), "--metrics",
                 str(tmp_path / "final_metrics.json")]) == 2  # which method? never silently "(none given)"
    assert "--method" in capsys.readouterr().err and not (tmp_path / "pub2").exists()


def test_publish_folder_passes_asteroid_upload_populate_step(tmp_path):
    """asteroid-upload's own code (minus the Zenodo network call) accepts the folder as written."""
    from asteroid.models.publisher import _populate_publishable

    folder = publish_model(ILRMA(n_iter=3), tmp_path / "ilrma_vcc", {"si_sdr_imp": 5.0}, dataset="vcc2018 reverberant",
                           recipe="zoo")
    model = _populate_publishable(torch.load(folder / "model.pth"), uploader="A Researcher", git_username="ar")
    assert "CC BY 4.0" in model["infos"]["license_note"] and "MIT" in model["infos"]["license_note"]
    assert model["infos"]["upload_name"].startswith("ar/ILRMA_vcc2018")
    assert (folder / "pytorch_model.bin").read_bytes() == (folder / "model.pth").read_bytes()


@pytest.mark.parametrize("dataset, license, research_only", [("wsj0-2mix reverb", "other", True),
                                                             ("jvs", "other", False), ("builtin", "mit", False)])
def test_model_card_front_matter_names_library_licences_and_data(tmp_path, dataset, license, research_only):
    from huggingface_hub import ModelCard

    folder = publish_model(ILRMA(n_iter=3), tmp_path / "m", {}, dataset=dataset, hub_id="lab/ilrma")
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "asteroid" and "asteroid" in card.data.tags
    assert card.data.license == license
    assert ("research only" in card.text) == research_only
    assert 'load_model("lab/ilrma")' in card.text and "not trained" in card.text


def test_recipe_publish_puts_each_n_own_metrics_in_its_card(tmp_path):
    from recipes.publish import publish

    torch.save(ILRMA(n_iter=3).serialize(), tmp_path / "ilrma.pth")
    metrics = {"ilrma": {"N=2": {"si_sdr_imp": {"mean": 5.0}}, "N=3": {"si_sdr_imp": {"mean": 3.0}}}}
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    folders = publish({"ilrma_n2": tmp_path / "ilrma.pth", "ilrma_n3": tmp_path / "ilrma.pth"}, tmp_path / "pub",
                      recipe="demo", metrics=str(tmp_path / "final_metrics.json"))
    for folder, mine, other in zip(folders, ("N=2", "N=3"), ("N=3", "N=2")):
        final = torch.load(folder / "model.pth", weights_only=True)["infos"]["final_metrics"]
        assert list(final) == [f"{mine} si_sdr_imp"], final
        assert f"{mine} si_sdr_imp" in (folder / "README.md").read_text()


def test_hub_id_loads_from_the_cache_offline(tmp_path, monkeypatch):
    """A hub id that was downloaded once loads without network (the asteroid cache layout)."""
    import huggingface_hub

    import asteroid.utils.hub_utils as hub_utils

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

    import huggingface_hub
    from asteroid.models.base_models import BaseModel

    import asteroid.utils.hub_utils as hub_utils

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
    for loaded in (load_model("lab/fastmvae2-demo"), FastMVAE2.from_pretrained("lab/fastmvae2-demo"),
                   BaseModel.from_pretrained("lab/fastmvae2-demo")):
        assert isinstance(loaded, FastMVAE2)
        assert torch.equal(loaded.forward_wav(wav), expected)
