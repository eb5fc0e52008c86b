"""Simulate every data set of a recipe: ``asteroid-mvae recipe simulate --conf C --out D --n-src 2 3``.

Sets (folders of ``D``), each an ``asteroid_mvae.data`` output with ``metadata.csv``:

- ``speakers/``: reverberant single speakers of the train corpus, with labels (source models),
- ``n<N>/train/``, ``n<N>/valid/``: N-speaker mixtures of the train corpus (encoder
  re-training data and the PIT baselines),
- ``n<N>/test/``: N-speaker mixtures of the test corpus (evaluation).

Configuration: ``room`` holds :class:`asteroid_mvae.data.RoomConfig` fields shared by every
set; ``simulate.<set>`` holds the set size (``n_per_speaker`` or ``n_mixtures``) and any
``RoomConfig`` field overriding ``room`` for that set (e.g. a shorter ``duration``)::

    room: {rt60: 0.3, duration: 10.0}
    simulate:
      seed: 0
      speakers: {n_per_speaker: 10}
      train: {n_mixtures: 100}
      valid: {n_mixtures: 10}
      test: {n_mixtures: 20}

Set ``k`` of :data:`SETS` uses seed ``seed + k`` (independent sets). Reruns skip finished
items (the simulation functions resume); a set whose size is 0 is skipped.
"""

import dataclasses
import time
from pathlib import Path

from .conf import ConfError, load_conf, section
from .prepare import add_corpus_arguments, corpora_from_conf

SETS = ("speakers", "train", "valid", "test")
SIZE_KEYS = {"speakers": "n_per_speaker", "train": "n_mixtures", "valid": "n_mixtures", "test": "n_mixtures"}


def room_config(conf: dict, set_name: str):
    """``RoomConfig`` from ``room`` updated by the RoomConfig fields of ``simulate.<set_name>``."""
    from ..data import RoomConfig

    fields = {f.name for f in dataclasses.fields(RoomConfig)}
    values = dict(section(conf, "room", default={}) or {})
    entry = dict(section(conf, f"simulate.{set_name}", default={}) or {})
    entry.pop(SIZE_KEYS[set_name], None)
    unknown = (set(values) | set(entry)) - fields
    if unknown:
        raise ConfError(
            f"unknown room key(s) {sorted(unknown)} (room / simulate.{set_name}); "
            f"RoomConfig fields are {sorted(fields)}"
        )
    values.update(entry)
    return RoomConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def set_size(conf: dict, set_name: str) -> int:
    """Size of a set: ``n_per_speaker`` (speakers) or ``n_mixtures``; 0 when absent."""
    key = SIZE_KEYS[set_name]
    entry = section(conf, f"simulate.{set_name}", default={}) or {}
    return int(entry.get(key, 0))


def simulate_all(conf: dict, corpora: dict, out_dir, n_src_list, sets=SETS, jobs: int = 1, seed=None) -> dict:
    """Simulate the requested sets; return ``{folder name: metadata CSV path}``.

    ``seed`` (default: ``simulate.seed`` of the configuration) is the base seed of the sets."""
    from ..data import simulate_mixtures, simulate_speakers

    out_dir = Path(out_dir)
    seed = int(section(conf, "simulate.seed", default=0) if seed is None else seed)
    written = {}
    if "speakers" in sets and set_size(conf, "speakers") > 0:
        written["speakers"] = simulate_speakers(
            corpora["train"],
            out_dir / "speakers",
            set_size(conf, "speakers"),
            seed=seed,
            jobs=jobs,
            config=room_config(conf, "speakers"),
        )
    for n_src in n_src_list:
        for offset, set_name in enumerate(SETS[1:], start=1):
            if set_name not in sets or set_size(conf, set_name) == 0:
                continue
            corpus = corpora["test" if set_name == "test" else "train"]
            folder = out_dir / f"n{n_src}" / set_name
            written[f"n{n_src}/{set_name}"] = simulate_mixtures(
                corpus,
                folder,
                n_src=n_src,
                n_mixtures=set_size(conf, set_name),
                seed=seed + offset,
                jobs=jobs,
                config=room_config(conf, set_name),
            )
    return written


def add_arguments(parser):
    add_corpus_arguments(parser)
    parser.add_argument("--out", required=True, help="data folder of the experiment")
    parser.add_argument("--n-src", type=int, nargs="+", default=[2], help="numbers of sources of the mixture sets")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--jobs", type=int, default=1, help="parallel simulation processes")
    parser.add_argument("--seed", type=int, help="base seed (overrides simulate.seed)")
    return parser


def run(args) -> int:
    from ..data import DataError

    start = time.time()
    try:
        conf = load_conf(args.conf, args.tiny)
        written = simulate_all(
            conf,
            corpora_from_conf(conf, args.train_root, args.test_root),
            args.out,
            args.n_src,
            args.sets,
            args.jobs,
            args.seed,
        )
    except DataError as err:
        raise ConfError(str(err)) from None
    for name, path in written.items():
        print(f"{name}: {path}")
    print(f"simulation done in {time.time() - start:.1f} s")
    return 0
