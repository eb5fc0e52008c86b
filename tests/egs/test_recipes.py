"""The steps of the recipes (``asteroid_mvae.recipes``, ``asteroid-mvae recipe <step>``): configuration
and its checked overrides, corpora, training skip, publishing."""

import json
import subprocess

import pytest
import yaml

from asteroid_mvae.cli import main
from asteroid_mvae.recipes import build_separators, collect, conf, prepare, publish, simulate, train


def recipe(*argv):
    return main(["recipe", *map(str, argv)])


@pytest.fixture
def conf_file(tmp_path):
    path = tmp_path / "conf.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "n_src": [2, 3],
                "corpora": {
                    "train": {"name": "builtin", "n_speakers": 4, "utterances_per_speaker": 3, "seed": 0},
                    "test": {"name": "builtin", "n_speakers": 3, "utterances_per_speaker": 2, "seed": 1},
                },
                "room": {"duration": 2.0},
                "simulate": {"speakers": {"n_per_speaker": 2, "duration": 1.0}, "test": {"n_mixtures": 3}},
                "train": {"preset": "cpu", "common": {"optim": {"batch_size": 4}}, "chimera": {"optim": {"lr": 0.5}}},
                "retrain": {"max_steps": 7, "oracle": True, "dropout": None, "iterations": [1, 2]},
                "tiny": {"n_src": [2], "train": {"common": {"trainer": {"max_steps": 3}}}},
            },
            sort_keys=False,
        )
    )
    return path


def test_tiny_section_is_deep_merged(conf_file):
    full, tiny = conf.load_conf(conf_file), conf.load_conf(conf_file, tiny=True)
    assert "tiny" not in full and full["n_src"] == [2, 3]
    assert tiny["n_src"] == [2]
    assert tiny["train"]["common"] == {"optim": {"batch_size": 4}, "trainer": {"max_steps": 3}}


def test_get_flags_and_set(conf_file, capsys, tmp_path):
    assert recipe("conf", "--conf", conf_file, "--get", "n_src") == 0
    assert capsys.readouterr().out == "2 3\n"
    assert recipe("conf", "--conf", conf_file, "--get", "eval.metrics", "--default", "si_sdr") == 0
    assert capsys.readouterr().out == "si_sdr\n"
    assert recipe("conf", "--conf", conf_file, "--get", "no.such") == 2
    assert "'no.such' is missing" in capsys.readouterr().err
    assert recipe("conf", "--conf", conf_file, "--flags", "retrain") == 0
    assert capsys.readouterr().out.split() == ["--max-steps", "7", "--oracle", "--iterations", "1", "2"]
    out = tmp_path / "pit.yml"
    assert (
        recipe(
            "conf",
            "--conf",
            conf_file,
            "--set",
            "pit.convtasnet.n_src=3",
            "pit.convtasnet.network={x: [1, 2]}",
            "--section",
            "pit.convtasnet",
            "--out",
            out,
        )
        == 0
    )
    assert yaml.safe_load(out.read_text()) == {"n_src": 3, "network": {"x": [1, 2]}}
    assert recipe("conf", "--conf", conf_file, "--tiny", "--set", "room.rt60=[0.2, 0.4]", "--out", out) == 0
    written = yaml.safe_load(out.read_text())
    assert (
        written["room"] == {"duration": 2.0, "rt60": [0.2, 0.4]} and written["n_src"] == [2] and "tiny" not in written
    )


@pytest.mark.parametrize(
    "assignment, needles",
    [
        (
            "eval.n_iterr=3",
            [
                "eval.n_iterr",
                "unknown key 'n_iterr' in eval",
                "accepted keys: methods, metrics, mwf, n_examples, n_iter, track",
            ],
        ),
        ("tiny.n_src=3", ["unknown key 'tiny'", "accepted keys: corpora, eval, n_src"]),
        (
            "train.chimera.optim.lrr=0.1",
            ["unknown key 'lrr' in train.chimera.optim", "accepted keys: batch_size, lr, weight_decay"],
        ),
        ("train.cvae.trainer.max_stepz=5", ["unknown key 'max_stepz' in train.cvae.trainer", "max_steps"]),
        ("train.common.optim={lr: 0.1, bogus: 1}", ["train.common.optim.bogus", "unknown key 'bogus'"]),
        ("corpora.train.rot=/data", ["unknown key 'rot' in corpora.train", "root"]),
        ("separators.fastmvae2.n_itre=3", ["unknown key 'n_itre' in separators.fastmvae2", "n_iter"]),
        ("eval.n_iter=many", ["eval.n_iter: expects a number value, got text 'many'"]),
        ("retrain.oracle=3", ["retrain.oracle: expects a boolean value"]),
        ("train.cvae.optim=0.1", ["train.cvae.optim: expects a mapping value"]),
        ("room.duration.x=1", ["room.duration is a value, not a mapping"]),
        ("novalue", ["--set takes KEY=VALUE"]),
    ],
)
def test_set_names_the_unknown_key_or_the_bad_value_in_one_line(conf_file, capsys, tmp_path, assignment, needles):
    out = tmp_path / "written.yml"
    assert recipe("conf", "--conf", conf_file, "--set", assignment, "--out", out) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("asteroid-mvae recipe conf: error: "), err
    assert all(n in err[0] for n in needles), err
    assert not out.exists()


@pytest.mark.parametrize(
    "assignment, key, value",
    [
        ("train.cvae.trainer.max_steps=3000", "train.cvae.trainer.max_steps", 3000),  # a key of the training config
        (
            "train.cvae.trainer.accumulate_grad_batches=2",
            "train.cvae.trainer.accumulate_grad_batches",
            2,
        ),  # Lightning's
        ("train.common.trainer.devices=1", "train.common.trainer.devices", 1),  # a number where text ("auto") stands
        ("train.common.trainer.max_steps=null", "train.common.trainer.max_steps", None),  # null: not given
        ("retrain.dropout=0.3", "retrain.dropout", 0.3),  # a flag of asteroid-mvae retrain
        ("separators.mvae.n_steps=4", "separators.mvae.n_steps", 4),  # a constructor argument
        ("simulate.valid.rt60=[0.2, 0.6]", "simulate.valid.rt60", [0.2, 0.6]),  # a RoomConfig field
        ("pit.dprnn.network={n_blocks: 2}", "pit.dprnn.network", {"n_blocks": 2}),  # a free mapping
        ("n_src=3", "n_src", 3),
        ("eval.mwf=true", "eval.mwf", True),  # '<method>_mwf' rows (asteroid-mvae evaluate --mwf)
    ],
)
def test_set_accepts_the_keys_the_steps_read(conf_file, assignment, key, value):
    loaded = conf.apply_overrides(conf.load_conf(conf_file), [assignment])
    assert conf.section(loaded, key) == value


def test_shell_arrays_hold_every_value_and_flat_section(conf_file, tmp_path):
    """``--shell`` output, evaluated by bash, gives what ``--get`` and ``--flags`` print."""
    code = conf.shell_arrays(conf.load_conf(conf_file, tiny=True))
    script = tmp_path / "s.sh"
    script.write_text(
        code + 'echo "${conf_value[n_src]}|${conf_value[train.chimera.optim.lr]}|'
        '${conf_value[room.duration]}"\nmapfile -t f <<< "${conf_flag_lines[retrain]}"\n'
        'printf "%s," "${f[@]}"\n'
    )
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["2|0.5|2.0", "--max-steps,7,--oracle,--iterations,1,2,"]


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
    table = (
        "# Separation results\n\n| method | N | mixtures | si_sdr_imp (dB) |\n|---|---|---|---|\n"
        "| ilrma | 2 | 3 | 1.00 ± 0.10 |\n| fastmvae2 | 2 | 3 | 5.00 ± 1.00 |\n| fastmvae2 | 3 | 3 | 2.00 ± 1.00 |\n"
    )
    (tmp_path / "results.md").write_text(table)
    import torch

    from asteroid_mvae.models import FastMVAE2

    model = FastMVAE2(n_labels=2, n_freq=128, n_fft=256, hop_length=128, n_src=3)
    torch.save(model.serialize(), tmp_path / "m.pth")
    metrics = {"fastmvae2": {"N=3": {"si_sdr_imp": {"mean": 2.0, "std": 1.0}}}}
    (tmp_path / "final_metrics.json").write_text(json.dumps(metrics))
    from asteroid_mvae.networks import ChimeraACVAE
    from asteroid_mvae.networks.package import save_network_package

    secret = "/home/someone/corpus/speakers"  # a training machine's path: never published
    save_network_package(
        tmp_path / "network.pt",
        ChimeraACVAE(n_freq=128, n_labels=2),
        1.0,
        {"a": 0, "b": 1},
        {"data_root": secret, "steps": 3},
    )
    folders = publish.publish(
        {"fastmvae2_n3": tmp_path / "m.pth"},
        tmp_path / "pub",
        results=tmp_path / "results.md",
        recipe="demo",
        metrics=tmp_path / "final_metrics.json",
        networks={"fastmvae2_n3": tmp_path / "network.pt"},
    )
    shipped = torch.load(folders[0] / "network.pt", weights_only=True)
    assert secret not in repr(shipped) and shipped["training"]["steps"] == 3
    card = (folders[0] / "README.md").read_text()
    assert "| fastmvae2 | 3 | 3 | 2.00 ± 1.00 |" in card and "| 2 | 3 | 5.00" not in card and "ilrma" not in card
    published = torch.load(folders[0] / "model.pth", weights_only=True)  # asteroid's save_publishable layout
    assert published["infos"]["recipe_name"] == "demo" and published["licenses"]
    assert published["infos"]["final_metrics"] == {"N=3 si_sdr_imp": 2.0}
    assert (tmp_path / "pub" / "results.md").read_text() == table
    assert recipe("publish", "--models", f"x={tmp_path / 'missing.pth'}", "--out", tmp_path) == 2


def test_collect_prefixes_mixture_ids(tmp_path):
    for n in (2, 3):
        folder = tmp_path / f"n{n}"
        folder.mkdir()
        (folder / "all_metrics.csv").write_text(f"method,mixture_id,n_src,si_sdr\nilrma,mix000000,{n},{n}.5\n")
        (folder / "curves.jsonl").write_text(
            json.dumps({"method": "ilrma", "mixture_id": "mix000000", "n_src": n}) + "\n"
        )
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
        build_separators.build_one(
            FastMVAE2, tmp_path / "network.pt", 2, {"n_fft": 256, "hop_length": 128}, tmp_path / name
        )
    assert (tmp_path / "one.pth").read_bytes() == (tmp_path / "two.pth").read_bytes()


def test_set_value_that_is_not_yaml_is_one_conf_error():
    with pytest.raises(conf.ConfError, match="--set 'a=\\[1, 2'"):
        conf.parse_assignment("a=[1, 2")
    assert conf.parse_assignment("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
