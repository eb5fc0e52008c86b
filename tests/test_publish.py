"""Publishing (asteroid's save_publishable layout + model card) and loading by path or hub id."""
import json

import pytest
import torch

from asteroid_mvae.cli import main
from asteroid_mvae.models import FastMVAE2, ILRMA, load_model
from asteroid_mvae.publish import publish_model


def test_publish_writes_asteroid_layout_and_card(tmp_path):
    model = FastMVAE2(n_labels=2, n_freq=128, n_fft=256, hop_length=128, n_src=2, n_iter=5, label_map={"a": 0, "b": 1},
                      training_info={"data": "builtin 2 speakers", "retrained": True})
    folder = publish_model(model, tmp_path / "pub", {"si_sdr_imp": 7.5}, dataset="builtin", recipe="demo",
                           train_conf={"lr": 1e-5})
    conf = torch.load(folder / "model.pth", weights_only=True)
    assert conf["dataset"] == "builtin" and conf["licenses"]
    assert conf["infos"]["final_metrics"] == {"si_sdr_imp": 7.5} and conf["infos"]["recipe_name"] == "demo"
    assert conf["model_args"]["training_info"]["retrained"] is True
    card = (folder / "README.md").read_text()
    for text in ("FastMVAE2", "si_sdr_imp", "7.500", "builtin", "retrained", "load_model"):
        assert text in card
    wav = torch.randn(1, 2, 4000)
    loaded = load_model(str(folder))
    assert torch.equal(loaded.forward_wav(wav), model.forward_wav(wav))
    assert loaded.training_info == model.training_info
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


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
