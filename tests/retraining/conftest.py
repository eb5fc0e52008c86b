"""Fixtures: two tiny simulated 2-source mixture sets of built-in speakers and a small ChimeraACVAE package."""

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny networks: one thread is as fast and does not spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


N_FFT = 256  # n_freq = 128


@pytest.fixture(scope="session")
def retrain_setup(tmp_path_factory):
    from asteroid_mvae.data import BuiltinCorpus, RoomConfig, simulate_mixtures
    from asteroid_mvae.networks import ChimeraACVAE, save_network_package

    root = tmp_path_factory.mktemp("retrain")
    corpus = BuiltinCorpus(n_speakers=3, utterances_per_speaker=3, seed=0, utterance_seconds=(1.0, 1.5))
    room = RoomConfig(duration=1.5, rt60=0.15)
    train_csv = simulate_mixtures(corpus, root / "mix_train", n_src=2, n_mixtures=4, seed=0, config=room)
    test_csv = simulate_mixtures(corpus, root / "mix_test", n_src=2, n_mixtures=1, seed=1, config=room)
    torch.manual_seed(0)
    network = ChimeraACVAE(n_labels=3, n_freq=N_FFT // 2)
    with torch.no_grad():  # untrained, but a decoder whose output depends on its input
        network.decoder.layers[-1].weight.mul_(100)
    package = save_network_package(
        root / "chimera.pt",
        network,
        1.0,
        {s: i for i, s in enumerate(corpus.speakers)},
        {"model": "chimera", "note": "untrained test network"},
    )
    return {"root": root, "train_csv": train_csv, "test_csv": test_csv, "package": package}
