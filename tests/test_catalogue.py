"""The catalogue is the one source of names: every list of the package derives from it."""

import ast
import inspect
from pathlib import Path

import pytest

import asteroid_mvae
from asteroid_mvae import catalogue

PACKAGE = Path(asteroid_mvae.__file__).parent
#: Literals of two or more catalogue names allowed outside the catalogue: settings per name,
#: whose keys the tests below check against it. (file, the variable or keyword holding it).
ALLOWED_LITERALS = {
    ("baselines/pit.py", "SIZES"),
    ("cli/evaluate.py", "default"),  # --methods' default selection
    ("training/presets.py", "MODEL_DEFAULTS"),
    ("training/presets.py", "CPU_LONG_MODEL_DEFAULTS"),
    ("training/presets.py", "CPU_MODEL_DEFAULTS"),
    ("training/presets.py", "SPEAKER_OPEN_MODEL_DEFAULTS"),
    ("cli/separate.py", None),  # helper B's files, merged separately
    ("cli/infer.py", None),
}


def _name_literals(tree):
    """(owner, line, names) of every tuple/list/set literal, dict or call holding >= 2 catalogue
    names; owner: the variable or keyword argument the outermost such literal is given to."""
    names = set(catalogue.names())
    owners = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            label = next((t.id for t in targets if isinstance(t, ast.Name)), "")
            value = node.value
        elif isinstance(node, ast.keyword):
            label, value = node.arg or "", node.value
        else:
            continue
        for inner in ast.walk(value) if value is not None else ():
            owners.setdefault(id(inner), label)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Call):
            items = node.args
        else:
            continue
        found = [i.value for i in items if isinstance(i, ast.Constant) and i.value in names]
        if len(found) >= 2:
            yield owners.get(id(node), ""), node.lineno, found


def test_no_hand_kept_list_of_names_outside_the_catalogue():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "catalogue.py" or (rel, None) in ALLOWED_LITERALS:
            continue
        for owner, line, found in _name_literals(ast.parse(path.read_text(encoding="utf-8"))):
            if (rel, owner) not in ALLOWED_LITERALS:
                offenders.append(f"{rel}:{line} {found}")
    assert not offenders, "derive these from asteroid_mvae.catalogue: " + "; ".join(offenders)


def test_every_spelling_names_one_entry():
    seen = {}
    for entry in catalogue.ENTRIES:
        assert entry.kind in catalogue.KINDS, entry.name
        assert entry.name == entry.name.lower() and " " not in entry.name
        for spelling in (entry.name, *entry.aliases):
            key = catalogue._key(spelling)
            assert seen.setdefault(key, entry.name) == entry.name, (spelling, seen[key], entry.name)
            assert catalogue.find(spelling) is entry
    assert catalogue.find("ChimeraACVAE").name == "chimera" and catalogue.find("Fast-MVAE2").name == "fastmvae2"
    assert catalogue.find("FrameGAN") is None  # two networks (gan, wgan) share that class
    assert catalogue.find("no such method") is None


def test_entries_are_consistent_with_their_classes():
    trainable = set(catalogue.names(*catalogue.TRAINABLE_KINDS))
    for entry in catalogue.ENTRIES:
        cls = entry.load()
        assert cls.__name__ == entry.class_name
        if entry.network is not None:
            assert entry.network in trainable and entry.needs_weights, entry.name
        if entry.kind in catalogue.NAMED_KINDS:
            assert not entry.needs_weights, entry.name
        if entry.kind in catalogue.TRAINABLE_KINDS:
            assert entry.load("system") is not None
        if entry.kind == "network":
            assert cls.network_name == entry.class_name
            assert catalogue.find(entry.separator).network is not None
        if entry.kind in catalogue.MIXTURE_KINDS + ("frame-prior",) and entry.name != "frame_prior_iva":
            assert getattr(cls, "single_channel", cls.__module__.startswith("asteroid.")), entry.name
        if entry.kind == "oracle":
            assert cls.needs_references
        for arg in entry.args:
            assert arg in inspect.signature(cls.__init__).parameters, (entry.name, arg)


def test_training_keys_resolve_every_vocabulary():
    assert [
        catalogue.training_key(n)
        for n in ("mvae", "CVAE", "fastmvae", "ACVAE", "fastmvae2", "ChimeraACVAE", "gass", "Conv-TasNet")
    ] == ["cvae", "cvae", "acvae", "acvae", "chimera", "chimera", "wgan", "convtasnet"]
    for name in ("ilrma", "oracle_ip", "pra_auxiva", "nope"):
        with pytest.raises(ValueError, match="nothing to train"):
            catalogue.training_key(name)


def test_every_registry_derives_from_the_catalogue():
    from asteroid_mvae.baselines import MIXTURE_MODELS, PIT_MODELS, PRA_METHODS, SIZES
    from asteroid_mvae.evaluation import available_separators
    from asteroid_mvae.evaluation.report import DEFAULT_GROUP, GROUPS, group_of
    from asteroid_mvae.models.registry import MODEL_NAMES, NEEDS_WEIGHTS, SEPARATOR_OF_NETWORK
    from asteroid_mvae.networks import FRAME_PRIORS, NETWORKS
    from asteroid_mvae.training import presets
    from asteroid_mvae.training.run import MODELS

    networks = catalogue.names("network")
    assert list(MODEL_NAMES) == list(catalogue.names(*catalogue.MODEL_KINDS))
    assert set(NEEDS_WEIGHTS) == {n for n in MODEL_NAMES if catalogue.find(n).needs_weights}
    assert set(SEPARATOR_OF_NETWORK) == set(NETWORKS) == set(catalogue.network_classes())
    assert set(SEPARATOR_OF_NETWORK.values()) <= set(MODEL_NAMES)
    assert set(FRAME_PRIORS) == {n for n, s in SEPARATOR_OF_NETWORK.items() if s == "gass"}
    assert list(MODELS) == list(networks)
    assert set(presets.PRESET_MODEL_DEFAULTS) <= set(presets.PRESETS)
    for settings in (presets.MODEL_DEFAULTS, *presets.PRESET_MODEL_DEFAULTS.values()):
        assert set(settings) <= set(networks)
    assert MIXTURE_MODELS == catalogue.names(*catalogue.MIXTURE_KINDS) and set(SIZES) == set(PIT_MODELS)
    assert PIT_MODELS == catalogue.names("pit")
    assert PRA_METHODS == tuple(n[len("pra_") :] for n in catalogue.names("pyroomacoustics"))
    assert set(available_separators()) == set(catalogue.names(*catalogue.NAMED_KINDS))
    grouped = {kind for _, kinds in GROUPS for kind in kinds}
    assert grouped == set(catalogue.KINDS) - {"network"}
    assert group_of("pra_ilrma") == GROUPS[2][0] and group_of("ibm") == GROUPS[0][0]
    assert group_of("sepformer=exp/best_model.pth") == GROUPS[3][0] and group_of("my_method") == DEFAULT_GROUP


def test_cli_choices_are_the_catalogues(capsys):
    from asteroid_mvae.cli import build_parser, main

    parser = build_parser()
    for name in catalogue.names(*catalogue.TRAINABLE_KINDS):
        assert parser.parse_args(["train", "--model", name, "--out", "x"]).model == name
    assert parser.parse_args(["train", "--model", "FastMVAE2", "--out", "x"]).model == "chimera"
    assert main(["train", "--model", "ilrma", "--out", "x"]) == 2
    assert "nothing to train for 'ilrma'" in capsys.readouterr().err
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    for name in catalogue.names(*catalogue.TRAINABLE_KINDS):
        assert name in help_text
    evaluate_help = parser._subparsers._group_actions[0].choices["evaluate"].format_help()
    for name in catalogue.names(*catalogue.NAMED_KINDS):
        assert name in evaluate_help
    default = parser.parse_args(["evaluate", "--out", "x"]).methods
    assert set(default) <= set(catalogue.names(*catalogue.NAMED_KINDS))


def test_importing_the_package_registers_every_model_with_asteroid():
    import importlib

    from asteroid import models as asteroid_models

    import asteroid_mvae.models

    for target in catalogue.model_classes():
        module, _, name = target.partition(":")
        assert asteroid_models.get(name) is getattr(importlib.import_module(module), name)
    assert asteroid_models.get("VAEBSS").__name__ == "VAEBSS"
    importlib.reload(asteroid_mvae.models)  # registering twice must not raise


def test_importing_asteroid_mvae_alone_registers_the_baselines():
    import subprocess
    import sys

    code = "import asteroid_mvae, asteroid.models as m; print(m.get('VAEBSS').__module__, m.get('MixIT').__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["asteroid_mvae.baselines.vaebss", "MixIT"]


def test_load_model_names_every_vocabulary_and_says_how_to_get_weights(tmp_path, monkeypatch):
    from asteroid_mvae.models import ILRMA, MVAE, load_model

    assert isinstance(load_model("ILRMA", n_iter=2), ILRMA)
    assert isinstance(load_model("MVAE", allow_untrained=True, n_freq=64, n_labels=2, n_fft=128, hop_length=64), MVAE)
    with pytest.raises(FileNotFoundError, match="train --model chimera"):
        load_model("ChimeraACVAE")
    with pytest.raises(FileNotFoundError, match="train --model convtasnet"):
        load_model("convtasnet")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "convtasnet").mkdir()  # an existing folder of that name is a path, not a name
    with pytest.raises(FileNotFoundError, match="holds no model.pth"):
        load_model("convtasnet")
