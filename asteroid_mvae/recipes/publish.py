"""Gather a recipe's trained separators for sharing: ``asteroid-mvae recipe publish --models NAME=PATH ... --out P``.

For each ``NAME=PATH`` (a saved separator: ``recipe build-separators`` or ``asteroid-mvae train``
output) writes ``P/NAME/``::

    model.pth      the separator in asteroid's save_publishable layout (asteroid_mvae.publish):
                   loads with asteroid_mvae.models.load_model("P/NAME")
    network.pt     its network package, when --networks NAME=PACKAGE is given
    conf.yml       the recipe configuration (--conf)
    README.md      the model card (data, training, measured metrics from --metrics, licence,
                   loading code) and this method's rows of the recipe's table

and ``P/results.md`` (the recipe's comparison table, --results). Every file is written
atomically; rerunning replaces them.
"""

import re
import shutil
from pathlib import Path

RESULTS = """
## Results of the recipe

{table}
"""


def parse_pairs(specs, what: str) -> dict:
    pairs = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not (sep and name and path):
            raise ValueError(f"{what} takes NAME=PATH; got {spec!r}")
        if not Path(path).is_file():
            raise ValueError(f"{what} {name}: file {path} not found")
        pairs[name] = Path(path)
    return pairs


def method_rows(table: str, name: str) -> str:
    """The header and the rows of method ``name`` (``<method>_n<N>``: that N only) of a markdown table."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return "(no results table given)"
    match = re.fullmatch(r"(.+)_n(\d+)", name)
    method, n_src = (match.group(1), match.group(2)) if match else (name, None)
    cells = [[c.strip() for c in line.split("|")[1:3]] for line in lines[2:]]
    rows = [line for line, (m, n) in zip(lines[2:], cells) if m == method and n_src in (None, n)]
    return "\n".join(lines[:2] + rows) if rows else "(this method is not in the results table)"


def copy_atomic(src: Path, dst: Path) -> None:
    from ..utils.io import atomic_path

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def publish(
    models: dict,
    out_dir,
    networks=None,
    conf=None,
    results=None,
    recipe: str = "",
    metrics=None,
    dataset: str = "unknown",
) -> list:
    """Write one folder per model (see the module docstring); return the folders."""
    import yaml

    from ..cli.publish import read_metrics
    from ..models import load_model
    from ..publish import publish_model, publish_network_package
    from ..utils.io import write_text

    out_dir = Path(out_dir)
    table = Path(results).read_text(encoding="utf-8") if results else ""
    if results:
        copy_atomic(Path(results), out_dir / "results.md")
    train_conf = yaml.safe_load(Path(conf).read_text(encoding="utf-8")) if conf else None
    folders = []
    for name, path in models.items():
        folder = out_dir / name
        match = re.fullmatch(r"(.+)_n(\d+)", name)  # <method>_n<N>: that N's metrics only
        method, n_src = (match.group(1), int(match.group(2))) if match else (name, None)
        publish_model(
            load_model(str(path)),
            folder,
            read_metrics(metrics, method, n_src) if metrics else {},
            dataset=dataset,
            train_conf=train_conf,
            recipe=recipe or "Unknown",
            name=name,
            test_set=f"the {recipe or 'recipe'} test mixtures" + (f", N = {n_src}" if n_src else ""),
        )
        if networks and name in networks:
            publish_network_package(networks[name], folder / "network.pt")  # training summary path-free
        if conf:
            copy_atomic(Path(conf), folder / "conf.yml")
        card = (folder / "README.md").read_text(encoding="utf-8")
        write_text(folder / "README.md", card + RESULTS.format(table=method_rows(table, name)))
        folders.append(folder)
    return folders


def add_arguments(parser):
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=PATH")
    parser.add_argument("--networks", nargs="*", metavar="NAME=PACKAGE")
    parser.add_argument("--conf", help="recipe configuration to ship beside each model")
    parser.add_argument("--results", help="comparison table (results.md) of the recipe")
    parser.add_argument("--recipe", default="", help="recipe name for the model cards")
    parser.add_argument("--metrics", help="final_metrics.json of the evaluation (measured metrics in the cards)")
    parser.add_argument("--dataset", default="unknown", help="training data, for the cards")
    parser.add_argument("--out", required=True, help="publish folder")
    return parser


def run(args) -> int:
    models = parse_pairs(args.models, "--models")
    networks = parse_pairs(args.networks, "--networks")
    for label, path in (("--conf", args.conf), ("--results", args.results), ("--metrics", args.metrics)):
        if path and not Path(path).is_file():
            raise ValueError(f"{label} file {path} not found")
    for folder in publish(models, args.out, networks, args.conf, args.results, args.recipe, args.metrics, args.dataset):
        print(f"published {folder}")
    return 0
