"""Separators by name: ``register_separator(name, factory)`` and ``get_separator(name_or_path)``.

Names of ``asteroid_mvae.models.MODEL_NAMES`` (auxiva, ilrma, mvae, ...) are built with
``asteroid_mvae.models.load_model``; names registered here (``pra_*`` and any added with
:func:`register_separator`) take precedence.
A factory takes keyword options (``n_src``, ``n_iter``, ``stft_config``, ``ref_mic``, ``sample_rate``;
it ignores the ones it does not use) and returns a separator: an asteroid BaseModel or any
callable with ``forward_wav(wav [batch, mics, time]) -> [batch, n_src, time]``.
Iterative separators may accept ``forward_wav(wav, callback=fn)`` (per-iteration state).

Separators that take one channel (the PIT baselines) say so with ``single_channel = True``;
asteroid's own models (``asteroid.models.*``) are single channel as well. Oracle ceilings
(``oracle_ip``, ``oracle_ls``, ``ibm``, ``irm``) say ``needs_references = True`` and are given the true images.
"""
import inspect
from pathlib import Path
from typing import Callable, Dict

from asteroid.models.base_models import BaseModel

from ..separation import StftConfig

_REGISTRY: Dict[str, Callable] = {}


def register_separator(name: str, factory: Callable, overwrite: bool = False) -> None:
    """Make ``get_separator(name, **options)`` call ``factory(**options)``."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"A separator named {name!r} is already registered (pass overwrite=True).")
    _REGISTRY[name] = factory


def available_separators():
    """Names accepted by :func:`get_separator`: registered here or in ``asteroid_mvae.models``
    (the deep separators only as ``NAME=PATH``: by name they would have no weights)."""
    from asteroid_mvae.models.registry import NEEDS_WEIGHTS

    return sorted(set(_REGISTRY) | (set(_lead_model_names()) - set(NEEDS_WEIGHTS)))


def _call_with_known(factory, options):
    params = inspect.signature(factory).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return factory(**options)
    return factory(**{k: v for k, v in options.items() if k in params})


def get_separator(spec: str, **options):
    """A separator from a name (see :func:`available_separators`) or a saved model path.

    Saved models and publish folders load with :func:`load_saved_model`.
    """
    if spec in _REGISTRY:
        return _call_with_known(_REGISTRY[spec], options)
    if spec.lower() in _lead_model_names():
        return _lead_model(spec, options)
    path = Path(spec)
    if path.exists() or path.suffix in {".pth", ".pt", ".ckpt"}:
        return load_saved_model(path)
    raise ValueError(f"Unknown separator {spec!r}: not a registered name ({', '.join(available_separators())}) "
                     "nor a path to a saved model.")


def load_saved_model(path):
    """A saved model (``serialize()`` file or publish folder: ours, or ConvTasNet/DPRNN/SepFormer
    from ``train_pit``) in eval mode."""
    from ..baselines import pit  # noqa: F401  (registers SepFormer with asteroid)
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


def _lead_model_names():
    from asteroid_mvae.models import MODEL_NAMES

    return MODEL_NAMES


def _lead_model(name: str, options: dict):
    """One of ``asteroid_mvae.models`` (AuxIVA, ILRMA, MVAE, ...) with our options translated."""
    from asteroid_mvae.models import load_model

    args = {}
    cfg = options.get("stft_config")
    if cfg is not None:
        args.update(n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=cfg.window)
    for key in ("n_src", "n_iter", "ref_mic", "sample_rate"):
        if options.get(key) is not None:
            args[key] = options[key]
    return load_model(name, **args)


def _pra_factory(method):
    def factory(n_iter=None, stft_config: StftConfig = StftConfig(), ref_mic=0, sample_rate=16000, seed=0,
                n_src=None, **_):
        from ..baselines.pra_separators import PraSeparator

        return PraSeparator(method, n_iter=n_iter, n_src=n_src, ref_mic=ref_mic, n_fft=stft_config.n_fft,
                            hop_length=stft_config.hop_length, window=stft_config.window,
                            sample_rate=sample_rate, seed=seed)
    return factory


for _method in ("auxiva", "ilrma", "fastmnmf2"):
    register_separator(f"pra_{_method}", _pra_factory(_method))


def needs_references(separator) -> bool:
    """True for oracle separators, whose ``forward_wav`` takes the true images (``references=``)."""
    return bool(getattr(separator, "needs_references", False))


def _oracle_factory(class_name, **extra):
    def factory(n_src=2, n_iter=60, stft_config: StftConfig = StftConfig(), ref_mic=0, sample_rate=16000, **_):
        from ..models import oracle

        return getattr(oracle, class_name)(n_src=n_src, n_iter=n_iter, n_fft=stft_config.n_fft,
                                           hop_length=stft_config.hop_length, window=stft_config.window,
                                           ref_mic=ref_mic, sample_rate=sample_rate, **extra)
    return factory


#: Ceilings (need the true images): IP with the true source powers, least-squares demixing,
#: ideal binary / ratio masks at the reference microphone.
ORACLES = {"oracle_ip": ("OracleIP", {}), "oracle_ls": ("OracleLS", {}),
           "ibm": ("IdealMask", {"kind": "ibm"}), "irm": ("IdealMask", {"kind": "irm"})}
for _name, (_class, _extra) in ORACLES.items():
    register_separator(_name, _oracle_factory(_class, **_extra))
