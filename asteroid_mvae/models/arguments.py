"""The one check of the separators' constructor arguments (type and range).

Every constructor of :mod:`asteroid_mvae.models` passes its arguments through
:func:`check_args`, so a model built in code, from a saved file (``from_pretrained``), from a
network package or with command-line overrides meets the same rules; a wrong value gives one
``ValueError`` naming the model, the argument, its value and what is allowed.

Rules go by argument name (:data:`RULES`): an argument means the same in every model. Relations
between arguments (``ref_mic < n_src``, ``n_freq`` against ``n_fft``) stay in the constructors.
"""

import math
import numbers
from typing import Any, Optional

import numpy as np

from .. import catalogue

#: upper bounds that keep a typo (``--n-iter 1000000000``) from starting hours of work or a
#: huge allocation; far above any useful setting.
MAX_ITERATIONS = 100_000
MAX_SOURCES = 1024
MAX_FFT = 2**20
MAX_BASES = 100_000
MAX_LABELS = 1_000_000
MAX_TAPS = 1000


class Rule:
    """A check of one argument: ``rule(owner, name, value) -> value`` (normalised) or ``ValueError``."""

    allowed = ""

    def __call__(self, owner: str, name: str, value):
        raise NotImplementedError

    def fail(self, owner: str, name: str, value):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ValueError(f"{owner}: {name} must be {self.allowed}; got {shown}.")


class Int(Rule):
    """A whole number in ``[low, high]`` (``None``: unbounded); a whole float (``30.0``) is
    accepted as that integer, bools, strings, fractions and non-finite values are not."""

    def __init__(self, low: Optional[int] = None, high: Optional[int] = None):
        self.low, self.high = low, high
        bounds = (
            (f" >= {low}" if high is None else f" in [{low}, {high}]")
            if low is not None
            else (f" <= {high}" if high is not None else "")
        )
        self.allowed = f"an integer{bounds}"

    def __call__(self, owner, name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.fail(owner, name, value)
        if not isinstance(value, numbers.Integral):
            if not math.isfinite(float(value)) or float(value) != int(value):
                self.fail(owner, name, value)
        value = int(value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            self.fail(owner, name, value)
        return value


class Real(Rule):
    """A finite number above ``low`` (``low_open``: strictly) and at most ``high``."""

    def __init__(self, low: Optional[float] = None, low_open: bool = False, high: Optional[float] = None):
        self.low, self.low_open, self.high = low, low_open, high
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"<= {high:g}")
        self.allowed = "a finite number" + (" " + " and ".join(parts) if parts else "")

    def __call__(self, owner, name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            self.fail(owner, name, value)
        value = float(value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            self.fail(owner, name, value)
        if self.high is not None and value > self.high:
            self.fail(owner, name, value)
        return value


class Choice(Rule):
    def __init__(self, *choices):
        self.choices = choices
        self.allowed = "one of " + ", ".join(repr(c) for c in choices)

    def __call__(self, owner, name, value):
        if not isinstance(value, str) or value not in self.choices:
            self.fail(owner, name, value)
        return value


class Bool(Rule):
    allowed = "true or false"

    def __call__(self, owner, name, value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        self.fail(owner, name, value)


class Text(Rule):
    allowed = "a string"

    def __call__(self, owner, name, value):
        if not isinstance(value, str):
            self.fail(owner, name, value)
        return value


class Mapping(Rule):
    """A dict with string keys (``values``: a rule for every value)."""

    def __init__(self, values: Optional[Rule] = None):
        self.values = values
        self.allowed = "a mapping of names" + (f" to {values.allowed}s" if values else "")

    def __call__(self, owner, name, value):
        if not isinstance(value, dict) or not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            self.fail(owner, name, value)
        if self.values is not None:
            for key, item in value.items():
                self.values(owner, f"{name}[{key!r}]", item)
        return value


class IntList(Rule):
    """A non-empty list (or tuple) of integers in ``[low, high]``."""

    def __init__(self, low: int = 0, high: Optional[int] = None):
        self.item = Int(low, high)
        self.allowed = f"a non-empty list of integers{self.item.allowed[len('an integer') :]}"

    def __call__(self, owner, name, value):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or not len(value):
            self.fail(owner, name, value)
        try:
            return [self.item(owner, name, v) for v in value]
        except ValueError:
            self.fail(owner, name, value)


class Optional_(Rule):
    """``None`` or what ``rule`` allows."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.allowed = f"None or {rule.allowed}"

    def __call__(self, owner, name, value):
        if value is None:
            return None
        try:
            return self.rule(owner, name, value)
        except ValueError:
            self.fail(owner, name, value)


def _choices():
    from ..networks.frame_priors import FRAME_PRIORS
    from ..separation.deep import BN_MODES, MVAE_SCALES, MVAE_STARTS, PRECISIONS, REFINE_LABELS
    from ..separation.engine import UPDATES
    from ..separation.source_models import NMF
    from ..separation.stft import WINDOWS

    return dict(
        update=Choice(*UPDATES),
        window=Choice(*sorted(WINDOWS)),
        precision=Choice(*PRECISIONS),
        bn_mode=Choice(*BN_MODES),
        scale=Choice(*MVAE_SCALES),
        start=Choice(*MVAE_STARTS),
        refine_label=Choice(*REFINE_LABELS),
        network=Choice(*sorted(FRAME_PRIORS)),
        init=Choice(*NMF.INITS),
    )


_STEPS = Int(0, MAX_ITERATIONS)

#: argument name -> rule, for every constructor argument of the models.
RULES = {
    "n_src": Int(2, MAX_SOURCES),
    "n_iter": Int(1, MAX_ITERATIONS),
    "n_fft": Int(2, MAX_FFT),
    "hop_length": Int(1, MAX_FFT),
    "ref_mic": Int(0, MAX_SOURCES - 1),
    "dtype": Choice("complex64", "complex128"),
    "sample_rate": Real(0, low_open=True, high=10_000_000),
    "ip_sweeps": Int(1, 1000),
    "mics": Choice("all", "pca", "first"),
    "postfilter": Choice("auto", "none", "mwf"),  # separation.postfilter
    "fallback": Choice("none", "envelope"),  # separation.fallback
    "block_frames": Optional_(Int(1)),
    "track_objective": Bool(),
    "taps": Int(0, MAX_TAPS),  # joint dereverberation (separation.dereverb)
    "delay": Int(1, MAX_TAPS),
    # ILRMA, AuxIVA, supervised NMF
    "n_basis": Int(1, MAX_BASES),
    "seed": Int(0, 2**32 - 1),
    "contrast": Choice("laplace", "gauss"),
    "n_freq": Int(1, MAX_FFT // 2 + 1),
    "n_labels": Int(1, MAX_LABELS),
    # deep separators
    "input_scale": Real(0, low_open=True),
    "label_map": Optional_(Mapping(Int(0, MAX_LABELS))),
    "training_info": Optional_(Mapping()),
    "init_ilrma": _STEPS,
    "monotone": Bool(),
    "variance_step": Real(0, low_open=True, high=1),
    "refine_steps": _STEPS,
    "refine_lr": Real(0, low_open=True),
    "refine_keep_best": Bool(),
    "n_steps": _STEPS,
    "lr": Real(0, low_open=True),
    "init_steps": _STEPS,
    "prior_weight": Real(0),
    # frame priors (GASS, FramePriorIVA)
    "network_args": Optional_(Mapping()),
    "speakers": Optional_(IntList(0, MAX_LABELS - 1)),  # GASS, SupervisedNMFSeparator: not None
    "divergence": Choice("kl", "euclidean", "is"),  # gass.DIVERGENCES
    "critic_weight": Real(0),
    "assign_steps": _STEPS,
    # oracles
    "floor": Real(0),
    "kind": Choice(*(e.args["kind"] for e in catalogue.entries("oracle") if "kind" in e.args)),  # IdealMask
}
_resolved = False


def check_args(owner, **values: Any) -> dict:
    """``values`` checked by :data:`RULES` -> the normalised values (ints as ``int``, numbers as
    ``float``); ``ValueError`` naming ``owner`` (a class or its name), the argument, its value
    and what is allowed. ``TypeError`` for a name without a rule (a programming error)."""
    global _resolved
    if not _resolved:  # choices that live in modules importing this one: resolved on first use
        RULES.update(_choices())
        _resolved = True
    owner = owner if isinstance(owner, str) else owner.__name__
    out = {}
    for name, value in values.items():
        if name not in RULES:
            raise TypeError(f"check_args: no rule for argument {name!r}")
        out[name] = RULES[name](owner, name, value)
    return out
