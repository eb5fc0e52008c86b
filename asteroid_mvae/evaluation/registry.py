"""Separators by name: ``get_separator(name_or_path, **options)`` and ``register_separator(name, factory)``.

``get_separator(spec)`` looks ``spec`` up in this order, the first match wins:

1. a name added with :func:`register_separator` (a name of the catalogue only with
   ``overwrite=True``: that replaces the built-in);
2. a separator of :mod:`asteroid_mvae.catalogue` built without weights (:func:`available_separators`:
   the iterative ones, the oracle ceilings, pyroomacoustics'), any spelling
   :func:`asteroid_mvae.catalogue.find` accepts;
3. a path to a saved model or publish folder (the deep separators and trained baselines:
   ``NAME=PATH`` in ``asteroid-mvae evaluate``).

A factory takes keyword options (``n_src``, ``n_iter``, ``stft_config``, ``ref_mic``, ``sample_rate``,
``seed``; it ignores the ones it does not use) and returns a separator: an asteroid BaseModel or any
callable with ``forward_wav(wav [batch, mics, time]) -> [batch, n_src, time]``.
Iterative separators may accept ``forward_wav(wav, callback=fn)`` (per-iteration state).

Separators that take one channel (the PIT baselines) say so with ``single_channel = True``;
asteroid's own models (``asteroid.models.*``) are single channel as well. Oracle ceilings
(``oracle_ip``, ``oracle_ls``, ``ibm``, ``irm``) say ``needs_references = True`` and are given the true images.
"""

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict

from asteroid.models.base_models import BaseModel

from .. import catalogue

_REGISTRY: Dict[str, Callable] = {}


def register_separator(name: str, factory: Callable, overwrite: bool = False) -> None:
    """Make ``get_separator(name, **options)`` call ``factory(**options)``; a name already
    registered or in the catalogue needs ``overwrite=True``."""
    if (name in _REGISTRY or catalogue.find(name) is not None) and not overwrite:
        raise ValueError(f"A separator named {name!r} is already registered (pass overwrite=True).")
    _REGISTRY[name] = factory


def available_separators():
    """Names accepted by :func:`get_separator`: registered here or built from the catalogue
    (the deep separators only as ``NAME=PATH``: by name they would have no weights)."""
    return sorted(set(_REGISTRY) | set(_built_names()))


def _built_names():
    return catalogue.names(*catalogue.NAMED_KINDS)


def _call_with_known(factory, options):
    params = inspect.signature(factory).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return factory(**options)
    return factory(**{k: v for k, v in options.items() if k in params})


@dataclass(frozen=True)
class PostFiltered:
    """A separator built by name as :func:`get_separator` builds it, then given ``postfilter``
    (an IVA-family separator: :class:`~asteroid_mvae.models.base.IterativeSeparator`); ``evaluate``
    builds it once per number of sources, as it builds names."""

    name: str
    postfilter: str = "mwf"


def get_separator(spec: str, **options):
    """A separator from a name (see :func:`available_separators`) or a saved model path, looked
    up in the order of this module's docstring.

    Saved models and publish folders load with :func:`load_saved_model`.
    """
    if isinstance(spec, PostFiltered):
        from ..models.base import with_postfilter

        return with_postfilter(get_separator(spec.name, **options), spec.postfilter)
    if spec in _REGISTRY:
        return _call_with_known(_REGISTRY[spec], options)
    entry = catalogue.find(spec)
    if entry is not None and entry.name in _built_names():
        return build_separator(entry, options)
    path = Path(spec)
    if entry is not None and entry.needs_weights and not path.exists():
        raise FileNotFoundError(
            f"{entry.name!r} needs trained weights: give the path of a saved model "
            f"(NAME=PATH in asteroid-mvae evaluate)."
        )
    if path.exists() or path.suffix in {".pth", ".pt", ".ckpt"}:
        return load_saved_model(path)
    raise ValueError(
        f"Unknown separator {spec!r}: not a registered name ({', '.join(available_separators())}) "
        "nor a path to a saved model."
    )


def load_saved_model(path):
    """A saved model (``serialize()`` file or publish folder: ours, or ConvTasNet/DPRNN/SepFormer
    from ``train_pit``) in eval mode."""
    from ..models import load_model

    return load_model(str(path)).eval()


def needs_speakers(separator) -> bool:
    """True for supervised separators given the mixture's speakers (GASS, supervised NMF, FramePriorIVA)."""
    return bool(getattr(separator, "needs_speakers", False))


def is_single_channel(separator) -> bool:
    """True for separators that take the reference microphone only."""
    flag = getattr(separator, "single_channel", None)
    if flag is not None:
        return bool(flag)
    return isinstance(separator, BaseModel) and type(separator).__module__.startswith("asteroid.")


def accepts_callback(separator) -> bool:
    """Whether ``forward_wav`` (or, when it only forwards ``*args``, ``forward``) takes ``callback``."""
    for attr in ("forward_wav", "forward", "__call__"):
        fn = getattr(separator, attr, None)
        if fn is None:
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if "callback" in params:
            return True
        if not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values()):
            return False
    return False


def build_separator(entry, options: dict):
    """The separator of catalogue ``entry`` with our options translated to its arguments:
    ``stft_config`` -> ``n_fft``, ``hop_length``, ``window``; ``n_src``, ``n_iter``, ``ref_mic``,
    ``sample_rate`` when given (not ``None``); ``seed`` for pyroomacoustics' separators; the
    arguments the name fixes (``ibm``: ``kind="ibm"``). Other options are ignored."""
    args = dict(entry.args)
    cfg = options.get("stft_config")
    if cfg is not None:
        args.update(n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=cfg.window)
    keys = ("n_src", "n_iter", "ref_mic", "sample_rate") + (("seed",) if entry.kind == "pyroomacoustics" else ())
    args.update({key: options[key] for key in keys if options.get(key) is not None})
    return entry.load()(**args)


def needs_references(separator) -> bool:
    """True for oracle separators, whose ``forward_wav`` takes the true images (``references=``)."""
    return bool(getattr(separator, "needs_references", False))
