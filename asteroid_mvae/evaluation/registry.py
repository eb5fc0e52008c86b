"""Separators by name: ``register_separator(name, factory)`` and ``get_separator(name_or_path)``.

A factory takes keyword options (``n_iter``, ``stft_config``, ``ref_mic``, ``sample_rate``;
it ignores the ones it does not use) and returns a separator: an asteroid BaseModel or any
callable with ``forward_wav(wav [batch, mics, time]) -> [batch, n_src, time]``.
Iterative separators may accept ``forward_wav(wav, callback=fn)`` (per-iteration state).

Separators that take one channel (the PIT baselines) say so with ``single_channel = True``;
asteroid's own models (``asteroid.models.*``) are single channel as well.
"""
import inspect
from pathlib import Path
from typing import Callable, Dict

import torch
from asteroid.models.base_models import BaseModel

from ..separation import GaussIVA, LaplaceIVA, NMF, StftConfig, istft, separate, stft

_REGISTRY: Dict[str, Callable] = {}


def register_separator(name: str, factory: Callable, overwrite: bool = False) -> None:
    """Make ``get_separator(name, **options)`` call ``factory(**options)``."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"A separator named {name!r} is already registered (pass overwrite=True).")
    _REGISTRY[name] = factory


def available_separators():
    return sorted(_REGISTRY)


def _call_with_known(factory, options):
    params = inspect.signature(factory).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return factory(**options)
    return factory(**{k: v for k, v in options.items() if k in params})


def get_separator(spec: str, **options):
    """A separator from a registered name or a path to a saved model (``.pth``).

    Saved models load through ``asteroid_mvae.models.load_model`` when the lead's models
    provide it, else through asteroid's ``BaseModel.from_pretrained``.
    """
    if spec in _REGISTRY:
        return _call_with_known(_REGISTRY[spec], options)
    path = Path(spec)
    if path.suffix in {".pth", ".pt", ".ckpt"} or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"Saved model {path} does not exist.")
        return load_saved_model(path)
    raise ValueError(f"Unknown separator {spec!r}: not a registered name ({', '.join(available_separators())}) "
                     "nor a path to a saved model.")


def load_saved_model(path):
    """Load a serialized model (asteroid ``BaseModel.serialize`` format)."""
    try:
        from asteroid_mvae import models as our_models
    except ImportError:
        our_models = None
    loader = getattr(our_models, "load_model", None)
    if loader is not None:
        return loader(str(path))
    from ..baselines import pit  # noqa: F401  (registers SepFormer with asteroid)

    conf = torch.load(str(path), map_location="cpu")
    if not isinstance(conf, dict) or "model_name" not in conf:
        raise ValueError(f"{path} is not a serialized model (expected a dict with 'model_name', 'model_args', 'state_dict').")
    model = BaseModel.from_pretrained(conf)
    return model.eval()


def is_single_channel(separator) -> bool:
    """True for separators that take the reference microphone only."""
    flag = getattr(separator, "single_channel", None)
    if flag is not None:
        return bool(flag)
    return isinstance(separator, BaseModel) and type(separator).__module__.startswith("asteroid.")


def accepts_callback(separator) -> bool:
    fn = getattr(separator, "forward_wav", separator)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "callback" in params


class EngineSeparator(torch.nn.Module):
    """Our engine (``asteroid_mvae.separation.separate``) with a classic source model.

    Used for ``auxiva``/``ilrma`` until ``asteroid_mvae.models`` registers its BaseModels.
    """

    single_channel = False

    def __init__(self, source_model: str = "laplace", n_iter: int = 60, update: str = "ip1",
                 stft_config: StftConfig = StftConfig(), ref_mic: int = 0, n_basis: int = 2, seed: int = 0):
        super().__init__()
        if source_model not in {"laplace", "gauss", "nmf"}:
            raise ValueError(f"source_model must be 'laplace', 'gauss' or 'nmf'; got {source_model!r}.")
        self.source_model, self.n_iter, self.update = source_model, n_iter, update
        self.stft_config, self.ref_mic, self.n_basis, self.seed = stft_config, ref_mic, n_basis, seed

    def _make_source_model(self):
        if self.source_model == "nmf":
            return NMF(n_basis=self.n_basis, seed=self.seed)
        return LaplaceIVA() if self.source_model == "laplace" else GaussIVA()

    def forward_wav(self, wav: torch.Tensor, callback=None) -> torch.Tensor:
        """``[batch, mics, time]`` -> ``[batch, mics, time]`` (``n_src = mics``)."""
        if wav.dim() != 3:
            raise ValueError(f"expected [batch, mics, time]; got {tuple(wav.shape)}.")
        spec = stft(wav, self.stft_config)
        result = separate(spec, self._make_source_model(), n_iter=self.n_iter, update=self.update,
                          ref_mic=self.ref_mic, callback=callback)
        return istft(result.estimates, wav.shape[-1], self.stft_config).to(wav.dtype)

    forward = forward_wav


def _lead_model(class_name):
    try:
        from asteroid_mvae import models
    except ImportError:
        return None
    return getattr(models, class_name, None)


def _engine_factory(source_model, lead_class):
    def factory(**options):
        cls = _lead_model(lead_class)
        if cls is not None:
            return _call_with_known(cls, options)
        return _call_with_known(lambda **kw: EngineSeparator(source_model=source_model, **kw), {
            k: v for k, v in options.items() if k in {"n_iter", "update", "stft_config", "ref_mic", "n_basis", "seed"}})
    return factory


def _pra_factory(method):
    def factory(n_iter=None, stft_config: StftConfig = StftConfig(), ref_mic=0, sample_rate=16000, seed=0, **_):
        from ..baselines.pra_separators import PraSeparator

        return PraSeparator(method, n_iter=n_iter, ref_mic=ref_mic, n_fft=stft_config.n_fft,
                            hop_length=stft_config.hop_length, window=stft_config.window,
                            sample_rate=sample_rate, seed=seed)
    return factory


register_separator("auxiva", _engine_factory("laplace", "AuxIVA"))
register_separator("ilrma", _engine_factory("nmf", "ILRMA"))
for _method in ("auxiva", "ilrma", "fastmnmf2"):
    register_separator(f"pra_{_method}", _pra_factory(_method))
