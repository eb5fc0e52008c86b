import copy

import pytest
import torch

from asteroid_mvae.networks import CVAE, ChimeraACVAE
from asteroid_mvae.training import ChimeraSystem
from asteroid_mvae.training.augment import add_interference


def batch(n=6, freq=8, frames=4):
    torch.manual_seed(1)
    return torch.rand(n, freq, frames) + 0.1, torch.tensor([0, 0, 1, 1, 2, 2])[:n]


def test_interference_sets_the_requested_sir_and_spares_same_speaker_pairs():
    x, labels = batch()
    torch.manual_seed(0)
    y = add_interference(x, labels, prob=1.0, sir_db=(10.0, 10.0))
    added = (y.square() - x.square()).mean((1, 2))
    corrupted = added > 0
    assert corrupted.any()
    sir = 10 * torch.log10(x.square().mean((1, 2))[corrupted] / added[corrupted])
    assert torch.allclose(sir, torch.full_like(sir, 10.0), atol=1e-4)
    same = torch.tensor([0, 0, 0, 0, 0, 0])
    assert torch.equal(add_interference(x, same, prob=1.0), x)  # nobody to add
    assert add_interference(x, labels, prob=0.0) is x


def test_interference_is_seeded():
    x, labels = batch()
    torch.manual_seed(3)
    a = add_interference(x, labels, prob=0.5)
    torch.manual_seed(3)
    assert torch.equal(a, add_interference(x, labels, prob=0.5))


def test_interference_rejects_a_reversed_range():
    x, labels = batch()
    with pytest.raises(ValueError, match="sir_db"):
        add_interference(x, labels, prob=1.0, sir_db=(20.0, 5.0))


def test_chimera_interference_applies_to_training_steps_only():
    x, labels = batch(freq=16, frames=8)
    teacher = CVAE(3, 16).eval()
    torch.manual_seed(0)
    student = ChimeraACVAE(3, 16)
    plain = ChimeraSystem(copy.deepcopy(student), None, None, teacher=teacher)
    noisy = ChimeraSystem(
        copy.deepcopy(student), None, None, teacher=teacher, interference={"prob": 1.0, "sir_db": [0.0, 0.0]}
    )

    def terms(system, train):
        system.train(train)
        torch.manual_seed(5)
        with torch.no_grad():
            return {k: v.item() for k, v in system.loss_terms(x, labels).items()}

    assert terms(plain, False) == pytest.approx(terms(noisy, False))  # validation sees clean inputs
    clean, interfered = terms(plain, True), terms(noisy, True)
    assert interfered["teacher_kl"] != pytest.approx(clean["teacher_kl"])  # the encoder saw other inputs


def test_interference_is_refused_for_other_networks(tmp_path):
    from asteroid_mvae.training import make_config, train

    config = make_config("cvae", "paper", {"exp_dir": str(tmp_path), "augment": {"interference": {"prob": 0.5}}})
    with pytest.raises(ValueError, match="ChimeraACVAE option"):
        train(config, dataset=None)
