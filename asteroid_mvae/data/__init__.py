"""Data layer: speech corpora, reverberant room simulation, torch datasets."""

from .audio import AudioReadError, DataError
from .corpora import (
    BuiltinCorpus,
    Corpus,
    CorpusUnion,
    FolderCorpus,
    JvsCorpus,
    Wsj0Corpus,
    get_corpus,
    split_by_speaker,
    split_by_utterance,
)
from .datasets import MixtureDataset, SpeakerSpectrogramDataset, WaveformSpeakerDataset
from .rooms import RoomConfig, simulate_mixtures, simulate_speakers

__all__ = [
    "DataError",
    "AudioReadError",
    "Corpus",
    "CorpusUnion",
    "Wsj0Corpus",
    "JvsCorpus",
    "FolderCorpus",
    "BuiltinCorpus",
    "get_corpus",
    "split_by_speaker",
    "split_by_utterance",
    "RoomConfig",
    "simulate_mixtures",
    "simulate_speakers",
    "SpeakerSpectrogramDataset",
    "WaveformSpeakerDataset",
    "MixtureDataset",
]
