"""The catalogue: every separator, network and baseline of asteroid-mvae, declared once.

Each :class:`Entry` gives the one name used everywhere (command line, configurations, result
tables), the class (``"module:Class"``, imported only when asked for), its kind, the network it
needs and a short citation. The papers' and the classes' spellings are accepted as aliases:
:func:`find` ignores case, ``-`` and ``_`` and also knows each class name, so ``ChimeraACVAE``,
``chimera``, ``FastMVAE2`` and ``fast-mvae2`` all resolve.

Every list of names in the package derives from here: the separators
:func:`asteroid_mvae.models.load_model` builds by name, the ones
:func:`asteroid_mvae.evaluation.get_separator` builds, the ``asteroid-mvae train --model``
choices, the report's groups, the network classes a network package may hold. A new method is
one new :class:`Entry` (plus its class).

This module imports nothing heavy (no torch): command-line help and shell helpers can read it.
"""

import importlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

#: kind -> what it means. Separators of the first five kinds are built by name; the others are
#: trained (``asteroid-mvae train --model NAME``) and then loaded from their saved files.
KINDS = {
    "iterative": "blind iterative multichannel separator (no training)",
    "deep": "iterative multichannel separator whose source model is a trained network",
    "frame-prior": "supervised separator whose source model is a trained frame prior (GASS family)",
    "supervised-nmf": "supervised separator with NMF bases fitted per speaker (fit_bases)",
    "oracle": "ceiling given the true source images (evaluation only)",
    "pyroomacoustics": "pyroomacoustics' implementation, for comparison",
    "pit": "single-channel network trained with permutation-invariant training on mixtures",
    "mixture-trained": "single-channel network trained on mixtures (deep clustering, unsupervised)",
    "network": "source-model network trained on single-speaker spectrograms",
}
#: separators :func:`asteroid_mvae.models.load_model` knows by name (weights from a file when needed).
MODEL_KINDS = ("iterative", "deep", "frame-prior", "supervised-nmf")
#: separators built from their name alone, no weights: what ``asteroid-mvae evaluate --methods NAME``
#: and :func:`asteroid_mvae.evaluation.get_separator` take by name.
NAMED_KINDS = ("iterative", "oracle", "pyroomacoustics")
#: networks trained on mixtures (``asteroid_mvae.baselines.train_pit``); their name is their training key.
MIXTURE_KINDS = ("pit", "mixture-trained")
#: what ``asteroid-mvae train --model`` trains.
TRAINABLE_KINDS = ("network",) + MIXTURE_KINDS


@dataclass(frozen=True)
class Entry:
    """One separator, network or baseline.

    Attributes:
        name: the one name (lower case, ``_`` between words).
        kind: a key of :data:`KINDS`.
        target: ``"module:Class"`` of the class (imported by :meth:`load`).
        cite: short citation (authors, title, venue, year).
        aliases: other accepted spellings (the papers' names); the class name is always one.
        network: the training key (a catalogue name) of the network whose weights it needs;
            trained baselines name themselves. ``None``: no network.
        needs_weights: whether it is only usable with trained weights or fitted parameters.
        separator: networks only: the separator a package of this network loads as.
        system: trained kinds: ``"module:Class"`` of the Lightning system that trains it.
        build: mixture-trained kinds: ``"module:function"`` ``(n_src, sample_rate, size, **overrides)``.
        args: constructor arguments fixed by the name (``ibm``: ``kind="ibm"``).
    """

    name: str
    kind: str
    target: str
    cite: str
    aliases: Tuple[str, ...] = ()
    network: Optional[str] = None
    needs_weights: bool = False
    separator: Optional[str] = None
    system: Optional[str] = None
    build: Optional[str] = None
    args: Dict[str, object] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def load(self, what: str = "target"):
        """The object named by ``target`` (default), ``system`` or ``build``, imported now."""
        module, _, attr = getattr(self, what).partition(":")
        return getattr(importlib.import_module(module), attr)


_KAMEOKA = (
    'H. Kameoka, L. Li, S. Inoue, S. Makino, "Supervised determined source separation with multichannel '
    'variational autoencoder", Neural Computation 31(9), 2019'
)
_LI_2020 = (
    'L. Li, H. Kameoka, S. Inoue, S. Makino, "FastMVAE: A fast optimization algorithm for the multichannel '
    'variational autoencoder method", IEEE Access 8, 2020'
)
_LI_2023 = (
    'L. Li, H. Kameoka, S. Makino, "FastMVAE2: On improving and accelerating the fast variational '
    'autoencoder-based source separation algorithm for determined mixtures", IEEE/ACM TASLP 31, 2023'
)
_GASS = 'Y. C. Subakan, P. Smaragdis, "Generative adversarial source separation", ICASSP 2018'
_PRA = (
    'R. Scheibler, E. Bezzam, I. Dokmanic, "Pyroomacoustics: A Python package for audio room simulations and '
    'array processing algorithms", ICASSP 2018'
)
_MASKS = (
    'D. Wang, "On ideal binary mask as the computational goal of auditory scene analysis", 2005; '
    'Y. Wang, A. Narayanan, D. Wang, "On training targets for supervised speech separation", IEEE/ACM TASLP 2014'
)
_M, _B, _N = "asteroid_mvae.models", "asteroid_mvae.baselines", "asteroid_mvae.networks"
_SYSTEMS, _FRAME_SYSTEMS = "asteroid_mvae.training.systems", "asteroid_mvae.training.frame_priors"

#: The catalogue, in the order lists and reports show it.
ENTRIES: Tuple[Entry, ...] = (
    # separators built by name
    Entry(
        "auxiva",
        "iterative",
        f"{_M}.iva:AuxIVA",
        'N. Ono, "Stable and fast update rules for independent vector analysis based on auxiliary function '
        'technique", WASPAA 2011',
    ),
    Entry(
        "ilrma",
        "iterative",
        f"{_M}.iva:ILRMA",
        'D. Kitamura, N. Ono, H. Sawada, H. Kameoka, H. Saruwatari, "Determined blind source separation unifying '
        'independent vector analysis and nonnegative matrix factorization", IEEE/ACM TASLP 24(9), 2016',
    ),
    Entry("mvae", "deep", f"{_M}.mvae:MVAE", _KAMEOKA, network="cvae", needs_weights=True),
    Entry("fastmvae", "deep", f"{_M}.mvae:FastMVAE", _LI_2020, network="acvae", needs_weights=True),
    Entry("fastmvae2", "deep", f"{_M}.mvae:FastMVAE2", _LI_2023, network="chimera", needs_weights=True),
    Entry("gass", "frame-prior", f"{_M}.gass:GASS", _GASS, network="wgan", needs_weights=True),
    Entry(
        "frame_prior_iva",
        "frame-prior",
        f"{_M}.gass:FramePriorIVA",
        "this package: GASS frame priors as the source model of IVA; " + _GASS,
        network="wgan",
        needs_weights=True,
    ),
    Entry(
        "supervised_ilrma",
        "supervised-nmf",
        f"{_M}.snmf:SupervisedILRMA",
        "ILRMA with per-speaker NMF bases fixed (supervised ILRMA)",
        needs_weights=True,
    ),
    Entry(
        "supervised_nmf",
        "supervised-nmf",
        f"{_M}.gass:SupervisedNMFSeparator",
        "single-channel supervised NMF, the NMF baseline of " + _GASS,
        needs_weights=True,
    ),
    # ceilings
    Entry("oracle_ip", "oracle", f"{_M}.oracle:OracleIP", "this package: IP demixing with the true source powers"),
    Entry("oracle_ls", "oracle", f"{_M}.oracle:OracleLS", "this package: least-squares demixing from the true images"),
    Entry("ibm", "oracle", f"{_M}.oracle:IdealMask", _MASKS, args={"kind": "ibm"}),
    Entry("irm", "oracle", f"{_M}.oracle:IdealMask", _MASKS, args={"kind": "irm"}),
    # pyroomacoustics
    Entry("pra_auxiva", "pyroomacoustics", f"{_B}.pra_separators:PraSeparator", _PRA, args={"method": "auxiva"}),
    Entry("pra_ilrma", "pyroomacoustics", f"{_B}.pra_separators:PraSeparator", _PRA, args={"method": "ilrma"}),
    Entry(
        "pra_fastmnmf2",
        "pyroomacoustics",
        f"{_B}.pra_separators:PraSeparator",
        'K. Sekiguchi, Y. Bando, A. A. Nugraha, K. Yoshii, T. Kawahara, "Fast multichannel nonnegative matrix '
        "factorization with directivity-aware jointly-diagonalizable spatial covariance matrices for blind source "
        'separation", IEEE/ACM TASLP 28, 2020; ' + _PRA,
        args={"method": "fastmnmf2"},
    ),
    # networks trained on mixtures
    Entry(
        "convtasnet",
        "pit",
        "asteroid.models:ConvTasNet",
        'Y. Luo, N. Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for speech '
        'separation", IEEE/ACM TASLP 27(8), 2019',
        network="convtasnet",
        needs_weights=True,
        system="asteroid.engine:System",
    ),
    Entry(
        "dprnn",
        "pit",
        "asteroid.models:DPRNNTasNet",
        'Y. Luo, Z. Chen, T. Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain '
        'single-channel speech separation", ICASSP 2020',
        network="dprnn",
        needs_weights=True,
        system="asteroid.engine:System",
    ),
    Entry(
        "sepformer",
        "pit",
        f"{_B}.pit:SepFormer",
        'C. Subakan, M. Ravanelli, S. Cornell, M. Bronzi, J. Zhong, "Attention is all you need in speech '
        'separation", ICASSP 2021',
        network="sepformer",
        needs_weights=True,
        system="asteroid.engine:System",
    ),
    Entry(
        "deep_clustering",
        "mixture-trained",
        f"{_B}.deep_clustering:DeepClustering",
        'J. R. Hershey, Z. Chen, J. Le Roux, S. Watanabe, "Deep clustering: Discriminative embeddings for '
        'segmentation and separation", ICASSP 2016',
        network="deep_clustering",
        needs_weights=True,
        system=f"{_B}.deep_clustering:DeepClusteringSystem",
        build=f"{_B}.deep_clustering:build_deep_clustering",
    ),
    Entry(
        "mixit",
        "mixture-trained",
        f"{_B}.mixit:MixIT",
        'S. Wisdom, E. Tzinis, H. Erdogan, R. J. Weiss, K. Wilson, J. R. Hershey, "Unsupervised sound separation '
        'using mixture invariant training", NeurIPS 2020',
        network="mixit",
        needs_weights=True,
        system=f"{_B}.mixit:MixITSystem",
        build=f"{_B}.mixit:build_mixit",
    ),
    Entry(
        "vaebss",
        "mixture-trained",
        f"{_B}.vaebss:VAEBSS",
        'J. Neri, R. Badeau, P. Depalle, "Unsupervised blind source separation with variational auto-encoders", '
        "EUSIPCO 2021",
        network="vaebss",
        needs_weights=True,
        system=f"{_B}.vaebss:VAEBSSSystem",
        build=f"{_B}.vaebss:build_vaebss",
    ),
    # source-model networks (``asteroid-mvae train --model NAME`` writes a network package)
    Entry("cvae", "network", f"{_N}.cvae:CVAE", _KAMEOKA, separator="mvae", system=f"{_SYSTEMS}:CVAESystem"),
    Entry(
        "acvae",
        "network",
        f"{_N}.cvae:ACVAE",
        'H. Kameoka, T. Kaneko, K. Tanaka, N. Hojo, "ACVAE-VC: Non-parallel voice conversion with auxiliary '
        'classifier variational autoencoder", IEEE/ACM TASLP 27(9), 2019; ' + _LI_2020,
        separator="fastmvae",
        system=f"{_SYSTEMS}:ACVAESystem",
    ),
    Entry(
        "chimera",
        "network",
        f"{_N}.chimera:ChimeraACVAE",
        _LI_2023,
        separator="fastmvae2",
        system=f"{_SYSTEMS}:ChimeraSystem",
    ),
    Entry(
        "wgan",
        "network",
        f"{_N}.frame_priors:FrameGAN",
        'M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein generative adversarial networks", ICML 2017; ' + _GASS,
        separator="gass",
        system=f"{_FRAME_SYSTEMS}:WGANSystem",
    ),
    Entry(
        "gan",
        "network",
        f"{_N}.frame_priors:FrameGAN",
        'I. Goodfellow et al., "Generative adversarial nets", NeurIPS 2014; ' + _GASS,
        separator="gass",
        system=f"{_FRAME_SYSTEMS}:GANSystem",
    ),
    Entry(
        "frame_vae",
        "network",
        f"{_N}.frame_priors:FrameVAE",
        'D. P. Kingma, M. Welling, "Auto-encoding variational Bayes", ICLR 2014; ' + _GASS,
        separator="gass",
        system=f"{_FRAME_SYSTEMS}:FrameVAESystem",
    ),
    Entry(
        "frame_dae",
        "network",
        f"{_N}.frame_priors:FrameDAE",
        'P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol, "Extracting and composing robust features with '
        'denoising autoencoders", ICML 2008; ' + _GASS,
        separator="gass",
        system=f"{_FRAME_SYSTEMS}:FrameDAESystem",
    ),
)


def _key(text: str) -> str:
    return str(text).lower().replace("-", "").replace("_", "")


def _index() -> Dict[str, Entry]:
    """Spelling key -> entry: names, aliases, and class names that only one entry has."""
    index = {}
    class_count = {}
    for entry in ENTRIES:
        class_count[_key(entry.class_name)] = class_count.get(_key(entry.class_name), 0) + 1
    for entry in ENTRIES:
        for spelling in (entry.name, *entry.aliases):
            index.setdefault(_key(spelling), entry)
        if class_count[_key(entry.class_name)] == 1:
            index.setdefault(_key(entry.class_name), entry)
    return index


_INDEX = _index()


def entries(*kinds: str) -> List[Entry]:
    """The entries of ``kinds`` (all when none), in catalogue order."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; expected some of {list(KINDS)}")
    return [e for e in ENTRIES if not kinds or e.kind in kinds]


def names(*kinds: str) -> Tuple[str, ...]:
    """The names of ``kinds`` (all when none), in catalogue order."""
    return tuple(e.name for e in entries(*kinds))


def find(name: str) -> Optional[Entry]:
    """The entry called ``name`` (its name, an alias or its class name; case, ``-`` and ``_``
    ignored), or ``None``."""
    return _INDEX.get(_key(name)) if isinstance(name, str) else None


def get(name: str, *kinds: str, what: str = "name") -> Entry:
    """:func:`find`, restricted to ``kinds`` (all when none); ``ValueError`` in one line naming
    the accepted names otherwise (``what`` says what was asked for: ``--model``, ...)."""
    entry = find(name)
    if entry is None or (kinds and entry.kind not in kinds):
        raise ValueError(f"unknown {what} {name!r:.60}; expected one of {', '.join(names(*kinds))}")
    return entry


def model_names(needs_weights: Optional[bool] = None) -> Tuple[str, ...]:
    """The separators :func:`asteroid_mvae.models.load_model` takes by name (:data:`MODEL_KINDS`),
    restricted to those that need (``True``) or do not need (``False``) weights; for help texts
    (``asteroid-mvae separate --model``)."""
    return tuple(e.name for e in entries(*MODEL_KINDS) if needs_weights is None or e.needs_weights == needs_weights)


def training_key(name: str) -> str:
    """The ``asteroid-mvae train --model`` name for ``name``: a trainable entry's own name, or the
    network a separator needs (``mvae`` -> ``cvae``, ``fastmvae2`` -> ``chimera``); ``ValueError``
    for names with nothing to train."""
    entry = find(name)
    if entry is not None and entry.kind not in TRAINABLE_KINDS and entry.network is not None:
        entry = find(entry.network)
    if entry is None or entry.kind not in TRAINABLE_KINDS:
        raise ValueError(
            f"nothing to train for {name!r:.60}; expected one of {', '.join(names(*TRAINABLE_KINDS))} "
            f"(or a separator that needs one: {', '.join(n for n in names(*MODEL_KINDS) if find(n).network)})"
        )
    return entry.name


def network_classes() -> Dict[str, str]:
    """Class name -> ``"module:Class"`` of every source-model network (what a network package's
    ``"network"`` field may hold)."""
    return {e.class_name: e.target for e in entries("network")}


def separator_of_network(class_name: str) -> Optional[str]:
    """The separator name a network package of ``class_name`` loads as (``CVAE`` -> ``mvae``)."""
    for entry in entries("network"):
        if entry.class_name == class_name:
            return entry.separator
    return None


def network_of_class(class_name: str) -> Optional[Entry]:
    """The first network entry whose class is ``class_name`` (``FrameGAN``: ``wgan``)."""
    return next((e for e in entries("network") if e.class_name == class_name), None)


def model_classes() -> List[str]:
    """``"module:Class"`` of every asteroid model of this package (registered with asteroid on
    ``import asteroid_mvae``), without repeats."""
    seen = []
    for entry in entries(*(k for k in KINDS if k != "network")):
        if entry.target.startswith("asteroid_mvae.") and entry.target not in seen:
            seen.append(entry.target)
    return seen


def describe(*kinds: str) -> str:
    """``"name (kind): citation"`` lines, for help texts and documentation."""
    return "\n".join(f"{e.name} ({e.kind}): {e.cite}" for e in entries(*kinds))
