"""Saved "network package": a trained source-model network plus what is needed to use it.

A package is a ``torch.save``-d dict of plain types (loadable with ``weights_only=True``)::

    {"network": "CVAE" | "ACVAE" | "ChimeraACVAE" | "FrameGAN" | "FrameVAE" | "FrameDAE",
     "network_args": {"n_labels": int, "n_freq": int, ...},
     "state_dict": {name: tensor},
     "input_scale": float,
     "label_map": {speaker: index},
     "training": {...plain summary...}}

``input_scale`` (set by training to the global RMS of the training magnitudes,
``sqrt(mean(|S|^2))``) defines the network's input domain::

    network input  x = |S| / input_scale            # |S|: [batch, n_freq, frames], DC dropped
    source power     = input_scale**2 * exp(decode(z, label))

Separation models must apply the same scaling.
"""
import torch

from .. import compat
from ..utils.io import save_torch
from .chimera import ChimeraACVAE
from .cvae import ACVAE, CVAE
from .frame_priors import FRAME_PRIORS

NETWORKS = {**{cls.network_name: cls for cls in (CVAE, ACVAE, ChimeraACVAE)}, **FRAME_PRIORS}
REQUIRED_KEYS = ("network", "network_args", "state_dict", "input_scale", "label_map")
#: Validation NLL (eval mode) this far above the training NLL (nats per bin) triggers a warning.
NLL_GAP_WARNING = 1.0


def build_network(name: str, network_args: dict):
    """Instantiate a network by its class name (a key of :data:`NETWORKS`)."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; expected one of {sorted(NETWORKS)}")
    return NETWORKS[name](**network_args)


def save_network_package(path, net, input_scale: float, label_map: dict, training_info: dict | None = None):
    """Write ``net`` and its metadata atomically to ``path`` (plain types only)."""
    if not float(input_scale) > 0:
        raise ValueError(f"input_scale must be > 0, got {input_scale}")
    if len(label_map) != net.n_labels:
        raise ValueError(f"label_map has {len(label_map)} speakers but the network has n_labels={net.n_labels}")
    package = compat.plain(
        {
            "network": net.network_name,
            "network_args": net.get_config(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            "input_scale": float(input_scale),
            "label_map": {str(k): int(v) for k, v in label_map.items()},
            "training": dict(training_info or {}),
        }
    )
    save_torch(package, path)
    return path


def load_network_package(path, map_location="cpu"):
    """Load a package written by :func:`save_network_package` -> ``(net in eval mode, package dict)``."""
    try:
        package = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"network package not found: {path}") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(package, dict) or k not in package]
    if missing:
        raise ValueError(f"{path} is not a network package (missing keys: {missing})")
    net = build_network(package["network"], package["network_args"])
    net.load_state_dict(package["state_dict"])
    return net.eval(), package


def nll_gap_warning(metrics: dict, threshold: float = NLL_GAP_WARNING, batchnorm: bool = True):
    """A warning text when a package's eval-mode validation NLL is far above its training NLL.

    ``metrics``: a package's ``training["final_metrics"]`` (keys ``train_nll_epoch``, ``val_nll``,
    and ``val_nll_recalibrated`` when the BatchNorm statistics were recalibrated). ``None`` when
    fine or unknown. ``batchnorm``: whether the network has BatchNorm layers (the advice differs).
    """
    train = metrics.get("train_nll_epoch")
    val = metrics.get("val_nll_recalibrated", metrics.get("val_nll"))
    if train is None or val is None or not val - train > threshold:
        return None
    gap = f"validation NLL {val:.3g} (eval mode) is {val - train:.3g} nats/bin above the training NLL {train:.3g}"
    if not batchnorm:
        return gap + ": the network over-fits its training data (more data, a smaller network or fewer steps)"
    return (gap + ": the network's BatchNorm statistics or its generalisation are off; "
            "run `asteroid-mvae recalibrate` on the package, or separate with bn_mode='per_source'")
