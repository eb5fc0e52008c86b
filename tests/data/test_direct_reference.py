"""Direct-path references: ``simulate`` writes them, ``evaluate --reference direct`` scores against them."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asteroid_mvae.cli import main
from asteroid_mvae.data import BuiltinCorpus, DataError, RoomConfig, rooms, simulate_mixtures
from asteroid_mvae.data.datasets import MixtureDataset


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """2 two-source, 3-microphone mixtures of 1 s (RT60 0.3 s), through the command line."""
    out = tmp_path_factory.mktemp("direct") / "set"
    assert (
        main(
            [
                "simulate",
                "--corpus",
                "builtin",
                "--builtin-speakers",
                "3",
                "--builtin-utterances",
                "4",
                "--n-src",
                "2",
                "--n-mixtures",
                "2",
                "--n-mics",
                "3",
                "--duration",
                "1",
                "--early-ms",
                "50",
                "--seed",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out / "metadata.csv"


def test_direct_files_are_the_early_part_of_the_images(tiny_set):
    frame = pd.read_csv(tiny_set)
    root = tiny_set.parent
    for k in (1, 2):
        image, _ = sf.read(root / frame[f"source_{k}_path"][0], always_2d=True)
        direct, _ = sf.read(root / frame[f"direct_{k}_path"][0], always_2d=True)
        assert direct.shape == image.shape  # [time, mics]: every microphone, aligned with the image
        # the early part carries most of the image's onset but not its tail: they differ clearly
        difference = np.sum((image - direct) ** 2) / np.sum(image**2)
        assert 0.01 < difference < 0.5  # (RT60 0.3 s: about 5 % of the energy is later than 50 ms)
        correlation = np.sum(image[:, 0] * direct[:, 0]) / np.sqrt(np.sum(image[:, 0] ** 2) * np.sum(direct[:, 0] ** 2))
        assert correlation > 0.3


def test_early_part_cuts_after_the_peak():
    rir = np.zeros(1000)
    rir[100], rir[50], rir[400] = 1.0, 0.2, 0.5
    assert np.array_equal(rooms.early_part(rir, 80), rir[:180])
    dry = np.random.default_rng(0).standard_normal((1, 2000))
    direct = rooms.direct_path_images(dry, [[rir]], 16000, early_s=80 / 16000)
    assert direct.shape == (1, 1, 2000)
    t = np.arange(450, 500)
    assert np.allclose(direct[0, 0, t], dry[0, t - 100] + 0.2 * dry[0, t - 50])  # no reflection at 400
    full = rooms.reverberant_images(dry, [[rir]])
    assert np.allclose(full[0, 0, t], direct[0, 0, t] + 0.5 * dry[0, t - 400])
    assert np.allclose(rooms.direct_path_images(dry, [[rir]], 16000, 1.0), rooms.reverberant_images(dry, [[rir]]))


def test_dataset_gives_either_reference(tiny_set):
    mixture, image = MixtureDataset(tiny_set)[0]
    _, direct = MixtureDataset(tiny_set, reference="direct")[0]
    assert image.shape == direct.shape == (2, mixture.shape[-1])
    assert not np.allclose(image.numpy(), direct.numpy(), atol=1e-3)
    _, direct1 = MixtureDataset(tiny_set, ref_mic=1, reference="direct")[0]
    assert not np.allclose(direct.numpy(), direct1.numpy())  # the reference microphone's own


def test_evaluate_scores_against_both_references(tiny_set, tmp_path):
    scores = {}
    for reference in ("image", "direct"):
        out = tmp_path / reference
        assert (
            main(
                [
                    "evaluate",
                    "--test-csv",
                    str(tiny_set),
                    "--out",
                    str(out),
                    "--methods",
                    "auxiva",
                    "oracle_ls",
                    "--metrics",
                    "si_sdr",
                    "--n-iter",
                    "3",
                    "--n-fft",
                    "512",
                    "--hop-length",
                    "256",
                    "--no-track",
                    "--n-examples",
                    "0",
                    "--no-report",
                    "--reference",
                    reference,
                ]
            )
            == 0
        )
        scores[reference] = pd.read_csv(out / "all_metrics.csv").set_index(["method", "mixture_id"])["si_sdr"]
    assert len(scores["image"]) == len(scores["direct"]) == 4
    assert (scores["image"] - scores["direct"]).abs().min() > 0.01


def test_direct_reference_refused_without_direct_files(tmp_path, capsys, tiny_set):
    frame = pd.read_csv(tiny_set)
    legacy = tiny_set.parent / "legacy.csv"
    frame.drop(columns=[c for c in frame.columns if c.startswith("direct_")]).to_csv(legacy, index=False)
    with pytest.raises(DataError, match="no direct-path references"):
        MixtureDataset(legacy, reference="direct")
    assert (
        main(
            [
                "evaluate",
                "--test-csv",
                str(legacy),
                "--out",
                str(tmp_path / "e"),
                "--methods",
                "auxiva",
                "--reference",
                "direct",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no direct-path references" in err[0]
    assert not (tmp_path / "e").exists()
    assert main(["evaluate", "--toy", "1", "--out", str(tmp_path / "t"), "--reference", "direct"]) == 2


def test_early_ms_is_checked(tmp_path):
    with pytest.raises(DataError, match=r"early_ms \(--early-ms\)"):
        simulate_mixtures(
            BuiltinCorpus(n_speakers=2),
            tmp_path / "out",
            n_src=2,
            n_mixtures=1,
            config=RoomConfig(duration=0.5, early_ms=-1),
        )
