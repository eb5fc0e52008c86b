"""MixIT: mixtures of mixtures, asteroid's MixITLossWrapper through our training, the n_src most
energetic outputs at separation, serialisation."""

import torch
from asteroid.losses import MixITLossWrapper, multisrc_neg_sisdr

from asteroid_mvae.baselines import MixIT, build_mixit, train_pit
from asteroid_mvae.baselines.mixit import MixITSystem, mixtures_of_mixtures
from asteroid_mvae.baselines.training import ReferenceChannelDataset
from asteroid_mvae.evaluation import get_separator
from asteroid_mvae.evaluation.toy import ToyMixtureDataset


def test_mixtures_of_mixtures_pairs_the_batch():
    mix = torch.arange(5 * 3, dtype=torch.float32).reshape(5, 3)
    mom, pairs = mixtures_of_mixtures(mix)
    assert mom.shape == (2, 3) and pairs.shape == (2, 2, 3)
    torch.testing.assert_close(mom[1], mix[2] + mix[3])


def test_system_loss_is_asteroids_mixit_loss():
    torch.manual_seed(0)
    model = build_mixit(2, size="tiny")
    mix = torch.randn(4, 4000)
    system = MixITSystem(model, None, None, [None])
    expected = MixITLossWrapper(multisrc_neg_sisdr, generalized=True)(
        model.all_outputs(mix[0::2] + mix[1::2]), torch.stack([mix[0::2], mix[1::2]], 1)
    )
    torch.testing.assert_close(system.common_step((mix, None), 0), expected)


def _mixit_loss(model, dataset):
    data = ReferenceChannelDataset(dataset, segment=8000, random_crop=False)
    mix = torch.stack([data[i][0] for i in range(len(data))])
    with torch.no_grad():
        return float(MixITSystem(model.eval(), None, None, [None]).common_step((mix, None), 0))


def test_mixit_training_lowers_its_loss_and_round_trips(tmp_path):
    dataset = ToyMixtureDataset(n_mixtures=4, n_src=2, seconds=1.0, seed=21)
    config = {
        "model": "mixit",
        "segment_seconds": 0.5,
        "seed": 0,
        "optim": {"batch_size": 4, "lr": 3e-3},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 15,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 5,
        },
    }
    torch.manual_seed(0)
    initial = build_mixit(2, size="tiny")
    torch.manual_seed(0)
    path = train_pit(dataset, tmp_path, config)
    trained = get_separator(str(path)).eval()
    assert isinstance(trained, MixIT) and trained.n_outputs == 4
    assert _mixit_loss(trained, dataset) < _mixit_loss(initial, dataset) - 0.5
    mixture, _ = dataset[0]
    with torch.no_grad():
        out = trained.forward_wav(mixture[None])  # multichannel input: the reference microphone
        every = trained.all_outputs(mixture[None])
    assert out.shape == (1, 2, mixture.shape[-1])
    energies = every.pow(2).mean(-1)[0].sort(descending=True).values
    torch.testing.assert_close(out.pow(2).mean(-1)[0], energies[:2])
