"""Saved "network package": a trained source-model network plus what is needed to use it.

A package is a ``torch.save``-d dict of plain types (loadable with ``weights_only=True``)::

    {"network": a key of NETWORKS: "CVAE" | "ACVAE" | "ChimeraACVAE" | "FrameGAN" | "FrameVAE" | "FrameDAE",
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

from .. import catalogue, compat
from ..utils.io import save_torch

#: Class name -> class of every network a package may hold: the catalogue's networks.
NETWORKS = {name: catalogue.network_of_class(name).load() for name in catalogue.network_classes()}
REQUIRED_KEYS = ("network", "network_args", "state_dict", "input_scale", "label_map")
#: Validation NLL (eval mode) this far above the training NLL (nats per bin) triggers a warning.
NLL_GAP_WARNING = 1.0


#: network argument -> (smallest, largest) whole value; ``hidden``: a list of such widths.
NETWORK_INT_ARGS = {"n_labels": (1, 1_000_000), "n_freq": (1, 2**19), "latent_dim": (1, 2**16), "hidden": (1, 2**16)}


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0].strip() if text else type(err).__name__)[:300]


def check_network_args(name, network_args) -> dict:
    """``network_args`` of a :data:`NETWORKS` class checked (a mapping; whole numbers in the
    ranges of :data:`NETWORK_INT_ARGS`; ``per_label`` a bool): ``ValueError`` naming the
    argument, its value and what is allowed."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; expected one of {sorted(NETWORKS)}")
    if not isinstance(network_args, dict) or not all(isinstance(k, str) for k in network_args):
        raise ValueError(f"{name}: network_args must be a mapping of argument names; got {network_args!r:.80}")
    for key, value in network_args.items():
        if key in NETWORK_INT_ARGS:
            low, high = NETWORK_INT_ARGS[key]
            values = value if key == "hidden" and isinstance(value, (list, tuple)) else [value]
            ok = len(values) > 0 and all(
                isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values
            )
            if not ok:
                what = (
                    f"a non-empty list of integers in [{low}, {high}]"
                    if key == "hidden"
                    else f"an integer in [{low}, {high}]"
                )
                raise ValueError(f"{name}: {key} must be {what}; got {value!r:.80}.")
        elif key == "per_label" and not isinstance(value, bool):
            raise ValueError(f"{name}: per_label must be true or false; got {value!r:.80}.")
    return network_args


def build_network(name: str, network_args: dict):
    """Instantiate a network by its class name (a key of :data:`NETWORKS`); ``ValueError`` in
    one line for unknown names and arguments the class does not take or accept."""
    check_network_args(name, network_args)
    try:
        return NETWORKS[name](**network_args)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name}: network_args {network_args!r:.120} do not build one ({_first_line(err)})") from None


def check_state_dict(path, name: str, network_args: dict, state_dict) -> None:
    """``ValueError`` naming the first key whose tensor is missing, unexpected or of another shape
    than a ``name(**network_args)`` has; checked on the meta device (nothing allocated)."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path}: state_dict must map parameter names to tensors.")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_network(name, network_args).state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: its weights do not fit a {name} with {network_args} (missing: {missing[:3]}, "
            f"unexpected: {unexpected[:3]})."
        )
    for key, shape in expected.items():
        if tuple(state_dict[key].shape) != shape:
            raise ValueError(
                f"{path}: weight {key} has shape {tuple(state_dict[key].shape)}, but a {name} with "
                f"{network_args} needs {shape} (wrong n_freq or n_labels?)."
            )


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
    from ..utils.safe_load import load_tensors

    try:
        package = load_tensors(path, map_location=map_location, what="network package")
    except FileNotFoundError:
        raise FileNotFoundError(f"network package not found: {path}") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(package, dict) or k not in package]
    if missing:
        raise ValueError(f"{path} is not a network package (missing keys: {missing})")
    name, network_args = package["network"], package["network_args"]
    try:
        check_network_args(name, network_args)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    check_state_dict(path, name, network_args, package["state_dict"])
    net = build_network(name, network_args)
    try:
        net.load_state_dict(package["state_dict"])
    except RuntimeError as err:  # e.g. a dtype torch cannot copy
        raise ValueError(f"{path}: its weights do not load into a {name} ({_first_line(err)})") from None
    if not isinstance(package["label_map"], dict):
        raise ValueError(f"{path}: label_map must map speaker names to label indices.")
    if (
        isinstance(package["input_scale"], bool)
        or not isinstance(package["input_scale"], (int, float))
        or not 0 < float(package["input_scale"]) < float("inf")
    ):
        raise ValueError(f"{path}: input_scale must be a finite number > 0; got {package['input_scale']!r:.80}.")
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
    return (
        gap + ": the network's BatchNorm statistics or its generalisation are off; "
        "run `asteroid-mvae recalibrate` on the package, or separate with bn_mode='per_source'"
    )
