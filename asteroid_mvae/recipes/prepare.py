"""Check the recipe's corpora and write their description: ``asteroid-mvae recipe prepare --conf C --out D``.

The ``corpora`` section of the configuration names two corpora, ``train`` (source models,
encoder re-training, PIT baselines) and ``test`` (evaluation)::

    corpora:
      train: {name: wsj0, root: /data/wsj0, subsets: [si_tr_s]}
      test:  {name: jvs, root: /data/jvs_ver1}
      # or: {name: folder, root: DIR, side: train, test_fraction: 0.2, split_seed: 0}
      # or: {name: builtin, n_speakers: 6, utterances_per_speaker: 12, seed: 0}

``side: train|test`` keeps one side of a seeded speaker-open split of the corpus (two
recipes entries with the same root and opposite sides give disjoint speakers).
``--train-root``/``--test-root`` override the roots (the ``run.sh`` corpus variables).
Writes ``D/corpora.json`` (speakers and utterance counts per role); reruns rewrite it.
"""

import json
from pathlib import Path

from .conf import ConfError, load_conf, section

ROLES = ("train", "test")
BUILTIN_KEYS = ("n_speakers", "utterances_per_speaker", "seed", "utterance_seconds")


def corpus_schema() -> dict:
    """The keys of a ``corpora.<role>`` entry and their kinds (:mod:`.schema`)."""
    number, text = frozenset({"number"}), frozenset({"text"})
    return {
        "name": text,
        "root": text,
        "side": text,
        "test_fraction": number,
        "split_seed": number,
        "subsets": frozenset({"list", "text"}),
        "n_speakers": number,
        "utterances_per_speaker": number,
        "seed": number,
        "utterance_seconds": frozenset({"list"}),
    }


def build_corpus(spec: dict, root_override=None):
    """A corpus of :mod:`asteroid_mvae.data.corpora` from one ``corpora.<role>`` mapping."""
    from ..data import get_corpus, split_by_speaker

    spec = dict(spec or {})
    name = spec.pop("name", None)
    if name is None:
        raise ConfError(f"corpus entry {spec} lacks 'name' (wsj0, jvs, folder or builtin)")
    root = root_override or spec.pop("root", None)
    spec.pop("root", None)
    side = spec.pop("side", "all")
    test_fraction = spec.pop("test_fraction", 0.2)
    split_seed = spec.pop("split_seed", 0)
    if name == "builtin":
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k in BUILTIN_KEYS}
    else:
        if not root:
            raise ConfError(f"the {name} corpus needs a root folder (conf 'root' or the run.sh corpus variable)")
        kwargs = {"subsets": tuple(spec["subsets"])} if spec.get("subsets") else {}
    unknown = set(spec) - set(BUILTIN_KEYS) - {"subsets"}
    if unknown:
        raise ConfError(f"unknown corpus key(s) {sorted(unknown)} for {name}")
    corpus = get_corpus(name, root, **kwargs)
    if side not in ("all", "train", "test"):
        raise ConfError(f"corpus side must be all, train or test; got {side!r}")
    if side != "all":
        train, test = split_by_speaker(corpus, test_fraction, seed=split_seed)
        corpus = train if side == "train" else test
    return corpus


def corpora_from_conf(conf: dict, train_root=None, test_root=None) -> dict:
    """``{"train": Corpus, "test": Corpus}`` from the ``corpora`` section."""
    specs = section(conf, "corpora", required=True)
    overrides = {"train": train_root, "test": test_root}
    return {role: build_corpus(section(specs, role, required=True), overrides[role]) for role in ROLES}


def describe(corpora: dict) -> dict:
    """Plain description: per role, the corpus description, speakers and utterance counts."""
    out = {}
    for role, corpus in corpora.items():
        speakers = corpus.speakers
        out[role] = {
            **corpus.describe(),
            "speakers": speakers,
            "utterances": {spk: len(corpus.utterances(spk)) for spk in speakers},
        }
    shared = sorted(set(out["train"]["speakers"]) & set(out["test"]["speakers"])) if len(out) == 2 else []
    same_corpus = out["train"].get("root") == out["test"].get("root") and out["train"]["name"] == out["test"]["name"]
    out["speaker_open"] = not (shared and same_corpus and out["train"]["name"] != "builtin")
    return out


def add_corpus_arguments(parser):
    parser.add_argument("--conf", required=True, help="recipe configuration (local/conf.yml)")
    parser.add_argument("--tiny", action="store_true", help="merge the configuration's 'tiny' section")
    parser.add_argument("--train-root", help="root of the training corpus (overrides corpora.train.root)")
    parser.add_argument("--test-root", help="root of the test corpus (overrides corpora.test.root)")
    return parser


def add_arguments(parser):
    add_corpus_arguments(parser)
    parser.add_argument("--out", required=True, help="data folder of the experiment")
    return parser


def run(args) -> int:
    from ..data import DataError
    from ..utils.io import write_text

    try:
        corpora = corpora_from_conf(load_conf(args.conf, args.tiny), args.train_root, args.test_root)
    except DataError as err:
        raise ConfError(str(err)) from None
    info = describe(corpora)
    path = Path(args.out) / "corpora.json"
    write_text(path, json.dumps(info, indent=2) + "\n")
    for role in ROLES:
        n_utts = sum(info[role]["utterances"].values())
        print(f"{role}: {info[role]['name']} corpus, {len(info[role]['speakers'])} speakers, {n_utts} utterances")
    if not info["speaker_open"]:
        print("warning: train and test share speakers of the same corpus (not speaker-open)")
    print(f"wrote {path}")
    return 0
