"""The shared python steps of the recipes (``recipes/``): configuration, corpora, training skip, publishing."""
import json

import pytest
import yaml

from recipes import build_separators, conf, prepare, publish, simulate, train


@pytest.fixture
def conf_file(tmp_path):
    path = tmp_path / "conf.yml"
    path.write_text(yaml.safe_dump({
        "n_src": [2, 3],
        "corpora": {"train": {"name": "builtin", "n_speakers": 4, "utterances_per_speaker": 3, "seed": 0},
                    "test": {"name": "builtin", "n_speakers": 3, "utterances_per_speaker": 2, "seed": 1}},
        "room": {"duration": 2.0},
        "simulate": {"speakers": {"n_per_speaker": 2, "duration": 1.0}, "test": {"n_mixtures": 3}},
        "train": {"preset": "cpu", "common": {"optim": {"batch_size": 4}}, "chimera": {"optim": {"lr": 0.5}}},
        "retrain": {"max_steps": 7, "oracle": True, "dropout": None, "iterations": [1, 2]},
        "tiny": {"n_src": [2], "train": {"common": {"trainer": {"max_steps": 3}}}},
    }, sort_keys=False))
    return path


def test_tiny_section_is_deep_merged(conf_file):
    full, tiny = conf.load_conf(conf_file), conf.load_conf(conf_file, tiny=True)
    assert "tiny" not in full and full["n_src"] == [2, 3]
    assert tiny["n_src"] == [2]
    assert tiny["train"]["common"] == {"optim": {"batch_size": 4}, "trainer": {"max_steps": 3}}


def test_get_flags_and_set(conf_file, capsys, tmp_path):
    assert conf.main(["--conf", str(conf_file), "--get", "n_src"]) == 0
    assert capsys.readouterr().out == "2 3\n"
    assert conf.main(["--conf", str(conf_file), "--get", "eval.metrics", "--default", "si_sdr"]) == 0
    assert capsys.readouterr().out == "si_sdr\n"
    assert conf.main(["--conf", str(conf_file), "--get", "no.such"]) == 2
    assert "'no.such' is missing" in capsys.readouterr().err
    assert conf.main(["--conf", str(conf_file), "--flags", "retrain"]) == 0
    assert capsys.readouterr().out.split() == ["--max-steps", "7", "--oracle", "--iterations", "1", "2"]
    out = tmp_path / "pit.yml"
    assert conf.main(["--conf", str(conf_file), "--section", "room", "--set", "n_src=3", "a.b=[1, 2]",
                      "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == {"duration": 2.0, "n_src": 3, "a": {"b": [1, 2]}}


def test_corpora_and_room_config(conf_file):
    loaded = conf.load_conf(conf_file)
    corpora = prepare.corpora_from_conf(loaded)
    assert len(corpora["train"].speakers) == 4 and len(corpora["test"].speakers) == 3
    info = prepare.describe(corpora)
    assert info["train"]["utterances"] == {spk: 3 for spk in corpora["train"].speakers}
    room = simulate.room_config(loaded, "speakers")
    assert room.duration == 1.0  # the set's value overrides `room`
    assert simulate.room_config(loaded, "test").duration == 2.0
    assert simulate.set_size(loaded, "test") == 3 and simulate.set_size(loaded, "valid") == 0
    with pytest.raises(conf.ConfError, match="unknown room key"):
        simulate.room_config({"room": {"rt_60": 0.3}}, "test")


def test_speaker_open_split_of_one_folder(tmp_path):
    import numpy as np
    import soundfile as sf

    for k in range(5):
        (tmp_path / f"spk{k}").mkdir()
        sf.write(tmp_path / f"spk{k}" / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    spec = {"name": "folder", "root": str(tmp_path), "test_fraction": 0.4, "split_seed": 3}
    train_side = prepare.build_corpus({**spec, "side": "train"})
    test_side = prepare.build_corpus({**spec, "side": "test"})
    assert len(test_side.speakers) == 2 and len(train_side.speakers) == 3
    assert not set(train_side.speakers) & set(test_side.speakers)
    with pytest.raises(conf.ConfError, match="needs a root"):
        prepare.build_corpus({"name": "folder"})


def test_train_config_precedence_and_finished_run(conf_file, tmp_path):
    loaded = conf.load_conf(conf_file, tiny=True)
    config = train.build_config(loaded, "chimera", tmp_path / "data", tmp_path / "exp", teacher="t.pt", seed=5)
    assert config["optim"] == {"lr": 0.5, "batch_size": 4, "weight_decay": 0.0}  # model section over common
    assert config["trainer"]["max_steps"] == 3 and config["seed"] == 5 and config["teacher"] == "t.pt"
    assert not train.is_finished(config)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "network.pt").write_bytes(b"x")
    (tmp_path / "exp" / "config.yml").write_text(yaml.safe_dump(config))
    assert train.is_finished(config)
    changed = train.build_config(loaded, "chimera", tmp_path / "data", tmp_path / "exp", teacher="t.pt", seed=6)
    assert not train.is_finished(changed)  # another configuration resumes/continues instead of skipping


def test_build_spec_parsing():
    assert build_separators.parse_build("a=fastmvae2:x/network.pt")[:2] == ("a", "fastmvae2")
    with pytest.raises(conf.ConfError, match="NAME=MODEL:PACKAGE"):
        build_separators.parse_build("fastmvae2:x")


def test_publish_cards_hold_their_rows(tmp_path):
    table = ("# Separation results\n\n| method | N | mixtures | si_sdr_imp (dB) |\n|---|---|---|---|\n"
             "| ilrma | 2 | 3 | 1.00 ± 0.10 |\n| fastmvae2 | 2 | 3 | 5.00 ± 1.00 |\n| fastmvae2 | 3 | 3 | 2.00 ± 1.00 |\n")
    (tmp_path / "results.md").write_text(table)
    import torch

    from asteroid_mvae.models import FastMVAE2

    model = FastMVAE2(n_labels=2, n_freq=128, n_fft=256, hop_length=128, n_src=3)
    torch.save(model.serialize(), tmp_path / "m.pth")
    metrics = {"fastmvae2": {"N=3": {"si_sdr_imp": {"mean": 2.0, "std": 1.0}}}}
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    folders = publish.publish({"fastmvae2_n3": tmp_path / "m.pth"}, tmp_path / "pub", results=tmp_path / "results.md",
                              recipe="demo", metrics=tmp_path / "final_metrics.json")
    card = (folders[0] / "README.md").read_text()
    assert "| fastmvae2 | 3 | 3 | 2.00 ± 1.00 |" in card and "| 2 | 3 | 5.00" not in card and "ilrma" not in card
    published = torch.load(folders[0] / "model.pth", weights_only=True)  # asteroid's save_publishable layout
    assert published["infos"]["recipe_name"] == "demo" and published["licenses"]
    assert published["infos"]["final_metrics"] == {"N=3 si_sdr_imp": 2.0}
    assert (tmp_path / "pub" / "results.md").read_text() == table
    assert publish.main(["--models", f"x={tmp_path / 'missing.pth'}", "--out", str(tmp_path)]) == 2


def test_collect_prefixes_mixture_ids(tmp_path):
    from recipes import collect

    for n in (2, 3):
        folder = tmp_path / f"n{n}"
        folder.mkdir()
        (folder / "all_metrics.csv").write_text(f"method,mixture_id,n_src,si_sdr\nilrma,mix000000,{n},{n}.5\n")
        (folder / "curves.jsonl").write_text(json.dumps({"method": "ilrma", "mixture_id": "mix000000", "n_src": n}) + "\n")
    csv_path = collect.merge_folders([tmp_path / "n2", tmp_path / "n3"], tmp_path / "all")
    lines = csv_path.read_text().splitlines()
    assert lines[1:] == ["ilrma,n2/mix000000,2,2.5", "ilrma,n3/mix000000,3,3.5"]
    ids = [json.loads(line)["mixture_id"] for line in (tmp_path / "all" / "curves.jsonl").read_text().splitlines()]
    assert ids == ["n2/mix000000", "n3/mix000000"]


def test_built_separator_bytes_do_not_depend_on_the_temporary_name(tmp_path):
    """Two builds of one package into two files give the same bytes (no temporary name inside)."""
    import torch

    from asteroid_mvae.models import FastMVAE2
    from asteroid_mvae.networks import ChimeraACVAE, save_network_package

    torch.manual_seed(0)
    save_network_package(tmp_path / "network.pt", ChimeraACVAE(n_freq=128, n_labels=2), 1.0, {"a": 0, "b": 1})
    for name in ("one.pth", "two.pth"):
        build_separators.build_one(FastMVAE2, tmp_path / "network.pt", 2, {"n_fft": 256, "hop_length": 128},
                                   tmp_path / name)
    assert (tmp_path / "one.pth").read_bytes() == (tmp_path / "two.pth").read_bytes()


def test_set_value_that_is_not_yaml_is_one_conf_error():
    with pytest.raises(conf.ConfError, match="--set 'a=\\[1, 2'"):
        conf.parse_assignment("a=[1, 2")
    assert conf.parse_assignment("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
