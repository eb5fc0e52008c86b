"""Fixes for asteroid 0.7.0 on torch 2.11 / Lightning 2.6, applied once on import.

- ``torch.load`` (weights-only since torch 2.6) refuses the ``TorchVersion`` that
  ``BaseModel.serialize`` stores: register it as a safe global so asteroid's own models load.
- ``System.on_validation_epoch_end`` crashes when the trainer has no logger: guard it.
- scipy dropped the window name ``"hanning"`` (asteroid issue 678): alias it to ``"hann"``.
"""

import torch

_applied = False


def plain(obj):
    """Recursively turn tensors' versions and other str subclasses into plain ``str``."""
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, str) and type(obj) is not str:
        return str(obj)
    return obj


def _guard_system_without_logger():
    from asteroid.engine.system import System

    original = System.on_validation_epoch_end
    if getattr(original, "_mvae_guarded", False):
        return

    def on_validation_epoch_end(self):
        if self.trainer.logger is None:
            return
        return original(self)

    on_validation_epoch_end._mvae_guarded = True
    System.on_validation_epoch_end = on_validation_epoch_end


def _alias_hanning():
    try:
        import scipy.signal.windows as windows
    except ImportError:  # pragma: no cover
        return
    if not hasattr(windows, "hanning"):
        windows.hanning = windows.hann


def apply():
    """Apply every fix (idempotent)."""
    global _applied
    if _applied:
        return
    from torch.torch_version import TorchVersion

    torch.serialization.add_safe_globals([TorchVersion])
    _guard_system_without_logger()
    _alias_hanning()
    _applied = True
