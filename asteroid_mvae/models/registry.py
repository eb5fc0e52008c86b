"""Build a separator from a short name, a saved model, a network package or a hub id."""
import os

#: name -> (module, class); extended as models are added.
MODEL_NAMES = {
    "auxiva": ("asteroid_mvae.models.iva", "AuxIVA"),
    "ilrma": ("asteroid_mvae.models.iva", "ILRMA"),
    "mvae": ("asteroid_mvae.models.mvae", "MVAE"),
    "fastmvae": ("asteroid_mvae.models.mvae", "FastMVAE"),
    "fastmvae2": ("asteroid_mvae.models.mvae", "FastMVAE2"),
    "gass": ("asteroid_mvae.models.gass", "GASS"),
    "frame_prior_iva": ("asteroid_mvae.models.gass", "FramePriorIVA"),
}
#: deep separators: name -> the ``asteroid-mvae train --model`` network they need.
NEEDS_WEIGHTS = {"mvae": "cvae", "fastmvae": "acvae", "fastmvae2": "chimera", "gass": "wgan", "frame_prior_iva": "wgan"}
#: network package class -> separator name.
SEPARATOR_OF_NETWORK = {"CVAE": "mvae", "ACVAE": "fastmvae", "ChimeraACVAE": "fastmvae2",
                        "FrameGAN": "gass", "FrameVAE": "gass", "FrameDAE": "gass"}  # frame priors: single channel


def load_model(name_or_path: str, allow_untrained: bool = False, **overrides):
    """A separator, with ``overrides`` as (separation) arguments, from:

    - a name that needs no weights (``"auxiva"``, ``"ilrma"``); the deep names (``"mvae"``,
      ``"fastmvae"``, ``"fastmvae2"``) only with ``allow_untrained=True`` (a random network:
      tests), else ``FileNotFoundError`` saying how to get weights;
    - a saved model (``serialize()`` file or publish folder), a network package
      (``asteroid-mvae train`` output) or a hub id ``owner/name[@revision]``.
    """
    import importlib

    from .base import model_from_conf

    key = name_or_path.lower()
    if key in NEEDS_WEIGHTS and not allow_untrained:
        raise FileNotFoundError(
            f"{key!r} needs trained weights: pass a saved model (model.pth, a publish folder or a hub id) or the "
            f"network package of `asteroid-mvae train --model {NEEDS_WEIGHTS[key]}` (network.pt)."
        )
    if key in MODEL_NAMES:
        module, cls = MODEL_NAMES[key]
        return getattr(importlib.import_module(module), cls)(**overrides)
    path = name_or_path
    if os.path.isdir(path):
        path = os.path.join(path, "model.pth")
        if not os.path.exists(path):
            raise FileNotFoundError(f"folder {name_or_path!r} holds no model.pth (a saved model or publish folder has one).")
    if not os.path.exists(path):
        if not is_hub_id(name_or_path):
            raise FileNotFoundError(
                f"{name_or_path!r} is neither a model name ({', '.join(sorted(set(MODEL_NAMES) - set(NEEDS_WEIGHTS)))}; "
                f"{', '.join(sorted(NEEDS_WEIGHTS))} with weights) nor an existing model file."
            )
        path = hub_download(name_or_path)
    import asteroid_mvae.models  # noqa: F401  (registers our classes with asteroid)

    conf = read_model_file(path)
    if "model_name" not in conf and "network" in conf:  # a network package
        if not isinstance(conf["network"], str) or conf["network"] not in SEPARATOR_OF_NETWORK:
            raise ValueError(f"{path}: a network package of an unknown network {conf['network']!r:.60}; expected one "
                             f"of {sorted(SEPARATOR_OF_NETWORK)}.")
        module, cls = MODEL_NAMES[SEPARATOR_OF_NETWORK[conf["network"]]]
        return getattr(importlib.import_module(module), cls).from_network_package(path, **overrides)
    return model_from_conf(conf, None, str(path), **overrides)  # ValueError: unknown class, bad arguments, weights


def read_model_file(path) -> dict:
    """The ``serialize()`` dict (or network package) saved at ``path``, read by the one safe reader
    (:func:`asteroid_mvae.utils.safe_load.load_tensors`: tensors and plain data only, regular
    files only); ``ValueError`` naming the problem."""
    from ..utils.safe_load import load_tensors

    conf = load_tensors(path, map_location="cpu", what="model file")
    if isinstance(conf, dict) and "network" in conf and "network_args" in conf:
        return conf  # a network package
    missing = [key for key in ("model_name", "model_args", "state_dict") if not isinstance(conf, dict) or key not in conf]
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
    kwargs = dict(repo_id=repo_id, filename=huggingface_hub.PYTORCH_WEIGHTS_NAME,
                  cache_dir=get_cache_dir(), revision=revision or None)
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
