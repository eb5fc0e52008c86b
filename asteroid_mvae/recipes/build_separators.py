"""Build MVAE-family separators from network packages, one file per number of sources.

``asteroid-mvae recipe build-separators --conf C --out-dir S --n-src 2 3 --build NAME=MODEL:PACKAGE ...``

``MODEL`` is a name of ``asteroid_mvae.models.MODEL_NAMES`` (``mvae`` with a CVAE package,
``fastmvae`` with an ACVAE package, ``fastmvae2`` with a ChimeraACVAE package); the
separator is ``cls.from_network_package(PACKAGE, n_src=N, **options)`` saved with
``torch.save(model.serialize(), S/NAME_n<N>.pth)``, which ``asteroid-mvae evaluate --methods
NAME=S/NAME_n<N>.pth`` loads. ``options`` come from the configuration's
``separators.<NAME>`` (else ``separators.<MODEL>``), e.g. ``{n_iter: 30}``. A file newer
than its package is kept (rerun = resume); retraining the network rebuilds it.
"""

import importlib
from pathlib import Path

from .conf import ConfError, load_conf, section


def parse_build(spec: str):
    """``NAME=MODEL:PACKAGE`` -> ``(name, model, package path)``."""
    name, sep, rest = spec.partition("=")
    model, sep2, package = rest.partition(":")
    if not (sep and sep2 and name and model and package):
        raise ConfError(
            f"--build takes NAME=MODEL:PACKAGE (e.g. fastmvae2=fastmvae2:exp/chimera/network.pt); got {spec!r}"
        )
    return name, model.lower(), Path(package)


def separator_class(model: str):
    """The class registered as ``model`` in ``asteroid_mvae.models.MODEL_NAMES`` (None if absent)."""
    from ..models import MODEL_NAMES

    if model not in MODEL_NAMES:
        return None
    module, cls = MODEL_NAMES[model]
    return getattr(importlib.import_module(module), cls)


def is_up_to_date(target: Path, package: Path) -> bool:
    return target.is_file() and target.stat().st_mtime >= package.stat().st_mtime


def build_one(cls, package: Path, n_src: int, options: dict, target: Path) -> None:
    """Build and save one separator (atomic write; the bytes do not depend on the temporary name)."""
    from ..utils.io import save_torch

    model = cls.from_network_package(str(package), n_src=n_src, **options)
    save_torch(model.serialize(), target)


def add_arguments(parser):
    parser.add_argument("--conf", required=True, help="recipe configuration (local/conf.yml)")
    parser.add_argument("--tiny", action="store_true", help="merge the configuration's 'tiny' section")
    parser.add_argument("--out-dir", required=True, help="folder of the separator files")
    parser.add_argument("--n-src", type=int, nargs="+", default=[2])
    parser.add_argument("--build", nargs="+", required=True, metavar="NAME=MODEL:PACKAGE")
    return parser


def run(args) -> int:
    conf = load_conf(args.conf, args.tiny)
    builds = [parse_build(spec) for spec in args.build]
    for name, model, package in builds:
        if not package.is_file():
            raise ConfError(f"{name}: network package {package} not found (train it first)")
        cls = separator_class(model)
        if cls is None or not hasattr(cls, "from_network_package"):
            raise ConfError(f"{name}: {model!r} is not a separator built from a network package")
    out_dir = Path(args.out_dir)
    for name, model, package in builds:
        cls = separator_class(model)
        options = section(conf, f"separators.{name}", default=None) or section(conf, f"separators.{model}", default={})
        for n_src in args.n_src:
            target = out_dir / f"{name}_n{n_src}.pth"
            if is_up_to_date(target, package):
                print(f"{target}: up to date; skipping")
                continue
            build_one(cls, package, n_src, dict(options or {}), target)
            print(f"wrote {target}")
    return 0
