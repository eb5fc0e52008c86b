"""The keys a recipe configuration may hold, and the check of ``--set KEY=VALUE`` against them.

A key is known when the configuration file holds it, or when the step that reads its section
accepts it: ``corpora`` (:mod:`.prepare`), ``room`` and ``simulate`` (``RoomConfig`` fields and
set sizes), ``train`` (every key of :func:`asteroid_mvae.training.make_config` per network,
``trainer`` also every ``pytorch_lightning.Trainer`` argument), ``separators`` (the separator
constructors' arguments), ``retrain_data`` / ``retrain`` (the flags of those commands), ``pit``
(:data:`asteroid_mvae.baselines.DEFAULT_CONFIG`) and ``eval`` (what ``run.sh`` reads).

A value must be of a kind its key accepts (the kinds of the schema's value and of the file's
value): boolean, number, text (numbers too: ``devices: 1``), list, mapping; ``null`` is accepted
everywhere (not given). Where nothing is known (a null or empty value in the file and no
schema) anything is accepted.
"""

import argparse
import dataclasses
import inspect
import typing
from functools import lru_cache

from .conf import ConfError

MISSING = object()
ANY = frozenset({"any"})


class Open(dict):
    """A mapping of the schema whose keys are free (e.g. ``network`` overrides)."""


def kind_of(value) -> str:
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "any"


def of_value(value):
    """The schema of an example value: a mapping of schemas, :class:`Open` for an empty mapping,
    else the frozenset of its kind."""
    if isinstance(value, dict):
        return {k: of_value(v) for k, v in value.items()} if value else Open()
    return frozenset({kind_of(value)})


def of_annotation(annotation) -> frozenset:
    """Kinds of a type annotation (``Optional[Tuple[float, float]]`` -> list; ``Union[float, Tuple]``
    -> number, list); :data:`ANY` where unknown."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return frozenset().union(*(of_annotation(a) for a in typing.get_args(annotation) if a is not type(None)))
    if origin in (tuple, list) or annotation in (tuple, list):
        return frozenset({"list"})
    if annotation is bool:
        return frozenset({"boolean"})
    if annotation in (int, float):
        return frozenset({"number"})
    if annotation is str:
        return frozenset({"text"})
    return ANY


def signature_schema(cls) -> dict:
    """``{argument: kinds}`` of ``cls``'s constructor and of the base classes it passes ``**kwargs`` to."""
    out = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        for p in params:
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            kinds = of_annotation(p.annotation) if p.annotation is not p.empty else ANY
            if kinds == ANY and p.default is not p.empty and p.default is not None:
                kinds = of_value(p.default)
            out.setdefault(p.name, kinds)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return out


def parser_schema(add_parser, command: str) -> dict:
    """``{dest: kinds}`` of the options of ``asteroid-mvae <command>`` (``add_parser`` registers it)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_parser(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices[command]
    out = {}
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            kinds = frozenset({"boolean"})
        elif action.nargs in ("+", "*") or isinstance(action.nargs, int):
            kinds = frozenset({"list", "number", "text"})
        elif action.type in (int, float):
            kinds = frozenset({"number"})
        else:
            kinds = frozenset({"text"})
        out[action.dest] = kinds
    return out


@lru_cache(maxsize=None)
def trainer_arguments() -> tuple:
    import pytorch_lightning as pl

    return tuple(signature_schema(pl.Trainer).items())


def with_trainer(schema: dict) -> dict:
    """``schema`` whose ``trainer`` mapping also accepts every ``pytorch_lightning.Trainer`` argument."""
    out = dict(schema)
    out["trainer"] = {**dict(trainer_arguments()), **schema.get("trainer", {})}
    return out


def room_schema() -> dict:
    from ..data import RoomConfig

    hints = typing.get_type_hints(RoomConfig)
    return {f.name: of_annotation(hints[f.name]) for f in dataclasses.fields(RoomConfig)}


def declared(conf: dict) -> dict:
    """The schema of a recipe configuration (see the module docstring); ``conf`` gives the
    training preset."""
    from .. import catalogue
    from ..baselines import DEFAULT_CONFIG
    from ..cli import retrain
    from ..training import make_config
    from .prepare import corpus_schema
    from .simulate import SIZE_KEYS

    words = frozenset({"list", "text", "number"})
    train_conf = conf.get("train") if isinstance(conf.get("train"), dict) else {}
    networks = catalogue.names("network")
    try:
        configs = {name: make_config(name, train_conf.get("preset", "paper")) for name in networks}
    except (ValueError, TypeError):  # an unknown preset: the training step says so
        configs = {name: make_config(name) for name in networks}
    train = {name: with_trainer(of_value(config)) for name, config in configs.items()}
    common = {}
    for name in networks:
        common = merge_schemas(common, train[name])
    room = room_schema()
    separators = {e.name: signature_schema(e.load()) for e in catalogue.entries("deep", "frame-prior")}
    separators["fastmvae2_retrained"] = separators["fastmvae2"]  # run.sh builds it with FastMVAE2
    pit_model = with_trainer(of_value(DEFAULT_CONFIG))
    return {
        "n_src": words,
        "source_models": words,
        "corpora": {"train": corpus_schema(), "test": corpus_schema()},
        "room": room,
        "simulate": {
            "seed": frozenset({"number"}),
            **{name: {**room, key: frozenset({"number"})} for name, key in SIZE_KEYS.items()},
        },
        "train": {"preset": frozenset({"text"}), "common": common, **train},
        "separators": separators,
        "retrain_data": parser_schema(retrain.add_parser, "retrain-data"),
        "retrain": parser_schema(retrain.add_parser, "retrain"),
        "pit": {"models": words, **{m: pit_model for m in catalogue.names(*catalogue.MIXTURE_KINDS)}},
        "eval": {
            "methods": words,
            "metrics": words,
            "n_iter": frozenset({"number"}),
            "n_examples": frozenset({"number"}),
            "track": frozenset({"boolean"}),
            "mwf": frozenset({"boolean"}),
        },
    }


def merge_schemas(a, b):
    """The union of two schemas (keys and kinds); :class:`Open` wins."""
    if isinstance(a, Open) or isinstance(b, Open):
        return Open()
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: merge_schemas(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}
    if isinstance(a, dict) or isinstance(b, dict):
        return a if isinstance(a, dict) else b
    return a | b


def _keys(node) -> set:
    return set(node) if isinstance(node, dict) else set()


def _is_free(value_node, schema_node) -> bool:
    """Whether anything may go below a node: an :class:`Open` or kind-less schema node, or no
    schema and a null or empty value in the file."""
    if isinstance(schema_node, Open) or schema_node == ANY:
        return True
    return schema_node is MISSING and (value_node is None or value_node == {})


def _kinds(value_node, schema_node) -> set:
    kinds = set()
    if isinstance(schema_node, dict):
        kinds.add("mapping")
    elif isinstance(schema_node, frozenset):
        kinds |= schema_node
    if value_node is not MISSING:
        kinds.add(kind_of(value_node))
    return kinds


def _accepts(kinds: set, value) -> bool:
    kind = kind_of(value)
    return value is None or "any" in kinds or kind in kinds or (kind == "number" and "text" in kinds)


def check_key(conf: dict, key: str, value, schema: dict) -> None:
    """:class:`ConfError` (one line naming the key and the accepted keys or kinds) unless ``key``
    is known and ``value`` of a kind it accepts; a mapping ``value`` is checked key by key."""
    parts = key.split(".")
    node, known = conf, schema
    for depth, part in enumerate(parts):
        if _is_free(node, known):
            return
        if not (isinstance(node, dict) or isinstance(known, dict)):
            raise ConfError(f"--set {key}: {'.'.join(parts[:depth])} is a value, not a mapping")
        accepted = _keys(node) | _keys(known)
        if part not in accepted:
            where = ".".join(parts[:depth]) or "the configuration"
            raise ConfError(
                f"--set {key}: unknown key {part!r} in {where}; accepted keys: {', '.join(sorted(accepted))}"
            )
        node = node.get(part, MISSING) if isinstance(node, dict) else MISSING
        known = known.get(part, MISSING) if isinstance(known, dict) else MISSING
    if _is_free(node, known):
        return
    kinds = _kinds(node, known)
    if isinstance(value, dict) and "mapping" in kinds:
        for sub, sub_value in value.items():
            check_key(conf, f"{key}.{sub}", sub_value, schema)
        return
    if not _accepts(kinds, value):
        names = " or ".join(sorted(kinds - {"any"}))
        raise ConfError(f"--set {key}: expects a {names} value, got {kind_of(value)} {value!r}")


def check(conf: dict, key: str, value) -> None:
    """Check one ``--set KEY=VALUE`` (``value`` parsed) against ``conf`` and its schema."""
    check_key(conf, key, value, declared(conf))
