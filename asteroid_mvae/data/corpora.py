"""Speech corpora: WSJ0, JVS, any speaker-per-folder tree, and a built-in synthetic corpus.

Every corpus offers the same small interface:

- ``sample_rate``: 16000 (audio is resampled on load),
- ``speakers``: sorted speaker ids,
- ``utterances(speaker)``: sorted utterance ids of one speaker,
- ``load(speaker, utt)``: float32 ``[time]`` at ``sample_rate``.

Corpora are plain picklable objects (paths and dicts), so simulation workers can load audio.
"""

import glob
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .audio import SPH2PIPE_HELP, DataError, is_shorten_sphere, load_resampled, sph2pipe_available
from .synth import SpeakerVoice, synthesize_utterance

AUDIO_EXTENSIONS = (".wav", ".flac")


class Corpus:
    """Base class: a mapping speaker -> utterance id -> file, read and resampled on demand."""

    name = "corpus"
    sample_rate = 16000

    def __init__(self, files: Dict[str, Dict[str, Path]], root=None):
        self.root = Path(root) if root is not None else None
        self._files = {spk: dict(sorted(utts.items())) for spk, utts in sorted(files.items()) if utts}

    @property
    def speakers(self) -> List[str]:
        return list(self._files)

    def utterances(self, speaker: str) -> List[str]:
        return list(self._utterance_map(speaker))

    def path(self, speaker: str, utt: str) -> Path:
        return self._utterance_map(speaker)[utt]

    def load(self, speaker: str, utt: str) -> np.ndarray:
        """Audio of one utterance: float32 ``[time]`` at :attr:`sample_rate`."""
        return load_resampled(self.path(speaker, utt), self.sample_rate)

    def subset(
        self, speakers: Optional[Sequence[str]] = None, utterances: Optional[Dict[str, Sequence[str]]] = None
    ) -> "Corpus":
        """A view restricted to ``speakers`` and/or per-speaker ``utterances``."""
        return CorpusSubset(self, speakers, utterances)

    def describe(self) -> dict:
        """Plain description for the settings JSON."""
        return {"name": self.name, "root": str(self.root) if self.root else None, "n_speakers": len(self.speakers)}

    def _utterance_map(self, speaker: str) -> Dict[str, Path]:
        if speaker not in self._files:
            raise DataError(f"unknown speaker {speaker!r} in {self.name} corpus")
        return self._files[speaker]

    def __len__(self) -> int:
        return sum(len(self.utterances(s)) for s in self.speakers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.speakers)} speakers, {len(self)} utterances)"


class CorpusSubset(Corpus):
    """A speaker/utterance restriction of another corpus (what the split helpers return)."""

    def __init__(self, base: Corpus, speakers=None, utterances=None):
        self.base = base
        self.name = base.name
        self.root = base.root
        self.sample_rate = base.sample_rate
        chosen = list(base.speakers) if speakers is None else sorted(speakers)
        unknown = sorted(set(chosen) - set(base.speakers))
        if unknown:
            raise DataError(f"speakers not in the {base.name} corpus: {unknown[:5]}")
        self._utts = {}
        for spk in chosen:
            utts = base.utterances(spk) if utterances is None or spk not in utterances else sorted(utterances[spk])
            if utts:
                self._utts[spk] = utts

    @property
    def speakers(self) -> List[str]:
        return list(self._utts)

    def utterances(self, speaker: str) -> List[str]:
        if speaker not in self._utts:
            raise DataError(f"unknown speaker {speaker!r} in this {self.name} subset")
        return list(self._utts[speaker])

    def path(self, speaker, utt):
        return self.base.path(speaker, utt)

    def load(self, speaker: str, utt: str) -> np.ndarray:
        return self.base.load(speaker, utt)

    def describe(self) -> dict:
        return {**self.base.describe(), "n_speakers": len(self.speakers), "subset_of": self.base.describe()}


class CorpusUnion(Corpus):
    """Several corpora as one (speaker-disjoint: a speaker name in two parts is an error)."""

    name = "union"

    def __init__(self, parts: Sequence[Corpus]):
        self.parts = list(parts)
        self._owner = {}
        for part in self.parts:
            for speaker in part.speakers:
                if speaker in self._owner:
                    raise DataError(
                        f"speaker {speaker!r} is in two corpora of the union "
                        f"({self._owner[speaker].name} and {part.name})"
                    )
                self._owner[speaker] = part
        self.root = None

    @property
    def speakers(self) -> List[str]:
        return sorted(self._owner)

    def _part(self, speaker: str) -> Corpus:
        if speaker not in self._owner:
            raise DataError(f"unknown speaker {speaker!r} in this corpus union")
        return self._owner[speaker]

    def utterances(self, speaker: str) -> List[str]:
        return self._part(speaker).utterances(speaker)

    def path(self, speaker, utt):
        return self._part(speaker).path(speaker, utt)

    def load(self, speaker: str, utt: str) -> np.ndarray:
        return self._part(speaker).load(speaker, utt)

    def describe(self) -> dict:
        return {"name": self.name, "n_speakers": len(self.speakers), "parts": [c.describe() for c in self.parts]}


def _require_dir(root, what: str) -> Path:
    if root is None:
        raise DataError(f"the {what} corpus needs --corpus-dir (its root folder)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{what} corpus directory not found: {root}")
    return root


def _audio_files(folder: Path, extensions=AUDIO_EXTENSIONS, recursive=False) -> List[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in extensions and p.is_file())


class Wsj0Corpus(Corpus):
    """WSJ0 (LDC93S6A): ``<root>/.../wsj0/<subset>/<speaker>/<utt>.wv1`` (or converted ``.wav``).

    ``root`` may be the ``wsj0`` folder itself or any folder up to three levels above it
    (the LDC discs ``11-1.1``, ``11-2.1``, ... are merged). ``.wv1`` files are NIST SPHERE
    with shorten compression: they are decoded with ``sph2pipe`` (must be on PATH) unless a
    ``.wav`` of the same name sits beside them.
    """

    name = "wsj0"

    def __init__(self, root, subsets: Sequence[str] = ("si_tr_s",)):
        root = _require_dir(root, "WSJ0")
        self.subsets = tuple(subsets)
        subset_dirs = self._find_subset_dirs(root, self.subsets)
        files: Dict[str, Dict[str, Path]] = {}
        for folder in subset_dirs:
            for spk_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
                utts = files.setdefault(spk_dir.name, {})
                for path in _audio_files(spk_dir, (".wv1", ".wav")):
                    if path.suffix.lower() == ".wav" or path.stem not in utts:
                        utts[path.stem] = path
        if not any(files.values()):
            raise DataError(f"no .wv1/.wav files in WSJ0 speaker folders under {subset_dirs[0]}/<speaker>/")
        super().__init__(files, root)
        self._check_decodable()

    @staticmethod
    def _find_subset_dirs(root: Path, subsets) -> List[Path]:
        found = []
        for subset in subsets:
            hits = [
                Path(p)
                for depth in range(4)
                for p in sorted(glob.glob(os.path.join(glob.escape(str(root)), *["*"] * depth, subset)))
                if Path(p).parent.name == "wsj0" or Path(p).parent == root
            ]
            if not hits:
                raise DataError(f"WSJ0 layout not found: expected {root}/.../wsj0/{subset}/<speaker>/<utt>.wv1")
            found.extend(hits)
        return found

    def _check_decodable(self):
        sphere = next((p for utts in self._files.values() for p in utts.values() if p.suffix.lower() == ".wv1"), None)
        if sphere is not None and is_shorten_sphere(sphere) and not sph2pipe_available():
            raise DataError(f"{sphere} is shorten-compressed and sph2pipe is not on PATH. {SPH2PIPE_HELP}")

    def describe(self) -> dict:
        return {**super().describe(), "subsets": list(self.subsets)}


class JvsCorpus(Corpus):
    """JVS (jvs_ver1): ``<root>/jvsNNN/{parallel100,nonpara30}/wav24kHz16bit/*.wav``, 24 -> 16 kHz.

    Utterance ids are ``<subset>/<file stem>``, e.g. ``parallel100/VOICEACTRESS100_001``.
    """

    name = "jvs"

    def __init__(self, root, subsets: Sequence[str] = ("parallel100", "nonpara30")):
        root = _require_dir(root, "JVS")
        if not any(root.glob("jvs[0-9]*")) and (root / "jvs_ver1").is_dir():
            root = root / "jvs_ver1"
        self.subsets = tuple(subsets)
        speaker_dirs = sorted(p for p in root.glob("jvs[0-9]*") if p.is_dir())
        if not speaker_dirs:
            raise DataError(f"JVS layout not found: expected {root}/jvs001/parallel100/wav24kHz16bit/*.wav")
        files = {}
        for spk_dir in speaker_dirs:
            files[spk_dir.name] = {
                f"{subset}/{path.stem}": path
                for subset in self.subsets
                for path in _audio_files(spk_dir / subset / "wav24kHz16bit", (".wav",))
            }
        if not any(files.values()):
            raise DataError(f"JVS layout not found: no wav files in {speaker_dirs[0]}/{self.subsets[0]}/wav24kHz16bit/")
        super().__init__(files, root)


class FolderCorpus(Corpus):
    """Any speaker-per-folder corpus: ``<root>/<speaker>/**/*.{wav,flac}``, any sample rate.

    Utterance ids are paths relative to the speaker folder without extension.
    """

    name = "folder"

    def __init__(self, root, extensions: Sequence[str] = AUDIO_EXTENSIONS):
        root = _require_dir(root, "folder")
        extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        files = {}
        for spk_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files[spk_dir.name] = {
                path.relative_to(spk_dir).with_suffix("").as_posix(): path
                for path in _audio_files(spk_dir, extensions, recursive=True)
            }
        if not any(files.values()):
            raise DataError(f"no audio found: expected {root}/<speaker>/**/*{{{','.join(extensions)}}}")
        super().__init__(files, root)


class BuiltinCorpus(Corpus):
    """Synthetic speakers generated on the fly (no download); deterministic by ``seed``.

    Speaker ``k`` has a voice drawn from ``seed`` and ``k``; utterance ``j`` of speaker ``k``
    is synthesised from ``(seed, k, j)`` with a length in ``utterance_seconds``.
    """

    name = "builtin"

    def __init__(
        self,
        n_speakers: int = 4,
        utterances_per_speaker: int = 20,
        seed: int = 0,
        utterance_seconds: Tuple[float, float] = (1.5, 4.0),
        sample_rate: int = 16000,
    ):
        if n_speakers < 1 or utterances_per_speaker < 1:
            raise DataError("the builtin corpus needs at least one speaker and one utterance per speaker")
        self.root = None
        self.n_speakers, self.utterances_per_speaker = int(n_speakers), int(utterances_per_speaker)
        self.seed, self.utterance_seconds = int(seed), tuple(utterance_seconds)
        self.sample_rate = int(sample_rate)
        self.voices = {
            f"synth{k:03d}": SpeakerVoice.random(np.random.default_rng([self.seed, k]), index=k)
            for k in range(self.n_speakers)
        }

    @property
    def speakers(self) -> List[str]:
        return list(self.voices)

    def utterances(self, speaker: str) -> List[str]:
        self._voice(speaker)
        return [f"u{j:04d}" for j in range(self.utterances_per_speaker)]

    def path(self, speaker, utt):
        return None

    def load(self, speaker: str, utt: str) -> np.ndarray:
        voice = self._voice(speaker)
        if not (utt.startswith("u") and utt[1:].isdigit() and int(utt[1:]) < self.utterances_per_speaker):
            raise DataError(f"unknown utterance {utt!r} of builtin speaker {speaker!r}")
        rng = np.random.default_rng([self.seed, self.speakers.index(speaker), int(utt[1:]), 1])
        seconds = rng.uniform(*self.utterance_seconds)
        return synthesize_utterance(voice, seconds, rng, self.sample_rate)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "n_speakers": self.n_speakers,
            "seed": self.seed,
            "utterances_per_speaker": self.utterances_per_speaker,
            "utterance_seconds": list(self.utterance_seconds),
        }

    def _voice(self, speaker: str) -> SpeakerVoice:
        if speaker not in self.voices:
            raise DataError(f"unknown speaker {speaker!r} in the builtin corpus")
        return self.voices[speaker]


CORPORA = {"wsj0": Wsj0Corpus, "jvs": JvsCorpus, "folder": FolderCorpus, "builtin": BuiltinCorpus}


def get_corpus(name: str, corpus_dir=None, **kwargs) -> Corpus:
    """Build a corpus by name (``wsj0``, ``jvs``, ``folder``, ``builtin``)."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; choose one of {sorted(CORPORA)}")
    if name == "builtin":
        return BuiltinCorpus(**kwargs)
    return CORPORA[name](corpus_dir, **kwargs)


def split_by_speaker(
    corpus: Corpus, test_fraction: float = 0.2, n_test: Optional[int] = None, seed: int = 0
) -> Tuple[Corpus, Corpus]:
    """Speaker-open split: disjoint speaker sets ``(train, test)``, chosen with ``seed``.

    (The paper's protocol, train on WSJ0 and test on JVS, is two corpora: no split needed.)
    """
    speakers = corpus.speakers
    n_test = int(round(test_fraction * len(speakers))) if n_test is None else int(n_test)
    if not 0 < n_test < len(speakers):
        raise DataError(f"cannot split {len(speakers)} speakers into train and {n_test} test speakers")
    order = np.random.default_rng(seed).permutation(len(speakers))
    test = sorted(speakers[i] for i in order[:n_test])
    train = sorted(set(speakers) - set(test))
    return corpus.subset(train), corpus.subset(test)


def split_by_utterance(corpus: Corpus, test_fraction: float = 0.2, seed: int = 0) -> Tuple[Corpus, Corpus]:
    """Speaker-closed split: every speaker in both parts, its utterances divided ``(train, test)``."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1); got {test_fraction}")
    train, test = {}, {}
    for k, spk in enumerate(corpus.speakers):
        utts = corpus.utterances(spk)
        if len(utts) < 2:
            raise DataError(f"speaker {spk!r} has {len(utts)} utterance(s); a speaker-closed split needs 2")
        order = np.random.default_rng([seed, k]).permutation(len(utts))
        n_test = min(len(utts) - 1, max(1, int(round(test_fraction * len(utts)))))
        test[spk] = [utts[i] for i in order[:n_test]]
        train[spk] = [utts[i] for i in order[n_test:]]
    return corpus.subset(utterances=train), corpus.subset(utterances=test)
