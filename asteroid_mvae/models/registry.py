"""Build a separator from a short name, a saved model, a network package or a hub id."""

import os

from .. import catalogue

#: Separators known by name (:data:`asteroid_mvae.catalogue.MODEL_KINDS`): name -> (module, class).
MODEL_NAMES = {e.name: (e.module, e.class_name) for e in catalogue.entries(*catalogue.MODEL_KINDS)}
#: Those of them that need trained weights: name -> the ``asteroid-mvae train --model`` network
#: they need (``None``: parameters fitted in Python, e.g. ``fit_bases``).
NEEDS_WEIGHTS = {e.name: e.network for e in catalogue.entries(*catalogue.MODEL_KINDS) if e.needs_weights}
#: Network package class -> separator name (``CVAE`` -> ``mvae``; frame priors -> ``gass``, single channel).
SEPARATOR_OF_NETWORK = {name: catalogue.separator_of_network(name) for name in catalogue.network_classes()}


def _weights_hint(entry) -> str:
    """How to get weights for ``entry``: the network to train, or a saved model."""
    if entry.kind in catalogue.MIXTURE_KINDS:
        return f"the best_model.pth of `asteroid-mvae train --model {entry.name}`"
    if entry.network is not None:
        return f"the network package of `asteroid-mvae train --model {entry.network}` (network.pt)"
    return "a model saved after fit_bases"


def _named(name: str):
    """The catalogue entry ``load_model`` builds for ``name``: a separator of
    :data:`~asteroid_mvae.catalogue.MODEL_KINDS` (names win over paths, as always), or, when no
    such path exists, a network's separator (``cvae`` -> ``mvae``) or a network trained on
    mixtures (only to say how to get its weights). ``None``: not a name."""
    entry = catalogue.find(name)
    if entry is None or entry.kind in catalogue.MODEL_KINDS:
        return entry
    if os.path.exists(name):
        return None
    if entry.kind == "network":
        return catalogue.find(entry.separator)
    return entry if entry.kind in catalogue.MIXTURE_KINDS else None


def load_model(name_or_path: str, allow_untrained: bool = False, **overrides):
    """A separator, with ``overrides`` as (separation) arguments, from:

    - a catalogue name (:data:`MODEL_NAMES`; any spelling :func:`asteroid_mvae.catalogue.find`
      accepts) that needs no weights (``"auxiva"``, ``"ilrma"``); the ones that need weights
      (``"mvae"``, ``"fastmvae"``, ``"fastmvae2"``, ...) only with ``allow_untrained=True`` (a
      random network: tests), else ``FileNotFoundError`` saying how to get weights;
    - a saved model (``serialize()`` file or publish folder), a network package
      (``asteroid-mvae train`` output) or a hub id ``owner/name[@revision]``.
    """
    from .base import model_from_conf

    entry = _named(name_or_path)
    if entry is not None and entry.needs_weights and not (allow_untrained and entry.kind in catalogue.MODEL_KINDS):
        raise FileNotFoundError(
            f"{entry.name!r} needs trained weights: pass a saved model (model.pth, a publish folder or a hub id) or "
            f"{_weights_hint(entry)}."
        )
    if entry is not None:
        return entry.load()(**entry.args, **overrides)
    path = name_or_path
    if os.path.isdir(path):
        path = os.path.join(path, "model.pth")
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"folder {name_or_path!r} holds no model.pth (a saved model or publish folder has one)."
            )
    if not os.path.exists(path):
        if not is_hub_id(name_or_path):
            raise FileNotFoundError(
                f"{name_or_path!r} is neither a model name "
                f"({', '.join(sorted(set(MODEL_NAMES) - set(NEEDS_WEIGHTS)))}; "
                f"{', '.join(sorted(NEEDS_WEIGHTS))} with weights) nor an existing model file."
            )
        path = hub_download(name_or_path)
    import asteroid_mvae.models  # noqa: F401  (registers our classes with asteroid)

    conf = read_model_file(path)
    if "model_name" not in conf and "network" in conf:  # a network package
        if not isinstance(conf["network"], str) or conf["network"] not in SEPARATOR_OF_NETWORK:
            raise ValueError(
                f"{path}: a network package of an unknown network {conf['network']!r:.60}; expected one "
                f"of {sorted(SEPARATOR_OF_NETWORK)}."
            )
        return catalogue.find(SEPARATOR_OF_NETWORK[conf["network"]]).load().from_network_package(path, **overrides)
    return model_from_conf(conf, None, str(path), **overrides)  # ValueError: unknown class, bad arguments, weights


def read_model_file(path) -> dict:
    """The ``serialize()`` dict (or network package) saved at ``path``, read by the one safe reader
    (:func:`asteroid_mvae.utils.safe_load.load_tensors`: tensors and plain data only, regular
    files only); ``ValueError`` naming the problem."""
    from ..utils.safe_load import load_tensors

    conf = load_tensors(path, map_location="cpu", what="model file")
    if isinstance(conf, dict) and "network" in conf and "network_args" in conf:
        return conf  # a network package
    missing = [
        key for key in ("model_name", "model_args", "state_dict") if not isinstance(conf, dict) or key not in conf
    ]
    if missing:
        raise ValueError(f"{path}: not a saved model (no {', '.join(missing)}); expected the dict of serialize().")
    return conf


def is_hub_id(text: str) -> bool:
    """``owner/name`` or ``owner/name@revision`` that is not a local path."""
    repo = text.split("@")[0]
    return repo.count("/") == 1 and not repo.startswith((".", "/")) and not os.path.splitext(repo)[1]


def hub_download(hub_id: str) -> str:
    """The local path of a hub model's weights, from the network or, offline, from the cache."""
    import huggingface_hub
    from asteroid.utils.hub_utils import get_cache_dir

    repo_id, _, revision = hub_id.partition("@")
    kwargs = dict(
        repo_id=repo_id,
        filename=huggingface_hub.PYTORCH_WEIGHTS_NAME,
        cache_dir=get_cache_dir(),
        revision=revision or None,
    )
    try:
        return huggingface_hub.hf_hub_download(**kwargs)
    except Exception as online_error:  # no network, or not on the hub: try the cache
        try:
            return huggingface_hub.hf_hub_download(**kwargs, local_files_only=True)
        except Exception:
            raise FileNotFoundError(
                f"hub model {hub_id!r} could not be downloaded ({type(online_error).__name__}) and is not in "
                f"the cache {get_cache_dir()}; download it once online or pass a local path."
            ) from None
