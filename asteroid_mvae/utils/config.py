"""Configurations as nested dicts of plain types: the one merge, and helpers of the command line.

Used by every configuration of the package (training presets, the mixture-trained baselines,
the recipes' ``conf.yml``). Imports nothing heavy.
"""

import copy


def merge(base: dict, override: dict) -> dict:
    """``override`` deep-merged into a copy of ``base``: where both hold a mapping, the mappings
    are merged key by key; any other value of ``override`` replaces ``base``'s (lists too).
    Neither argument is modified; ``override`` may be ``None``."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def drop_none(tree: dict) -> dict:
    """A copy of ``tree`` without its ``None`` values and the mappings left empty by that
    (command-line flags not given)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            value = drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def parse_devices(value):
    """A ``--devices`` flag for Lightning: ``None`` and ``"auto"`` unchanged, a whole number as
    an ``int`` (``"-1"``: every device), anything else (``"0,1"``) as given."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
