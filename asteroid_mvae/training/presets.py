"""Training configurations: the paper's (GPU, 1000 epochs), a small CPU one (< 1 hour on 2 cores),
a long CPU one (``cpu_long``: the real-speech zoo, hours on one or two cores) and
``speaker_open``, the setting of the speaker-disjoint zoo (``egs/folder_reverb``'s default: the
user's speakers are never the training speakers).

A configuration is a nested dict of plain types (YAML-able). :func:`make_config` merges a
preset with user overrides (:func:`asteroid_mvae.utils.config.merge`); every key is documented in
:data:`BASE`. The networks are the catalogue's of kind ``"network"``
(:mod:`asteroid_mvae.catalogue`); :data:`MODEL_DEFAULTS` holds the settings that differ per network
and :data:`PRESET_MODEL_DEFAULTS` those that differ per preset and network.
"""

from .. import catalogue
from ..utils.config import merge

__all__ = ["BASE", "PRESETS", "MODEL_DEFAULTS", "PRESET_MODEL_DEFAULTS", "make_config", "merge", "network_name"]

BASE = {
    "model": "cvae",  # a network of the catalogue: catalogue.names("network")
    "exp_dir": "exp/train",  # checkpoints/, logs/ and the network package go here
    "package_name": "network.pt",  # network package file written in exp_dir
    "seed": 0,  # seeds Lightning, the split, the sampler and the scale statistic
    "teacher": None,  # chimera only: path of a trained CVAE/ACVAE network package
    "network": {"n_freq": 1024},  # n_labels comes from the data
    "data": {
        # When train() gets no dataset: SpeakerSpectrogramDataset(root, seed=seed, **dataset_args).
        "root": None,  # an `asteroid-mvae simulate-speakers` output folder (or its metadata.csv)
        "dataset_args": {"segment_frames": 128, "segments_per_utterance": 1, "cache": True},
        "val_fraction": 0.05,  # per speaker, items held out for validation
        "scale_items": 2000,  # items (random, seeded) used for the input_scale statistic
        "num_workers": 0,
    },
    "optim": {"lr": 1e-4, "batch_size": 16, "weight_decay": 0.0},
    # weights: {term: weight} overriding the defaults; gumbel_tau: chimera; n_critic (None: 5 for
    # wgan, 1 for gan) and critic_clip: the adversarial frame priors; dae_noise: frame_dae
    "loss": {"weights": {}, "gumbel_tau": 1.0, "n_critic": None, "critic_clip": 0.01, "dae_noise": 0.5},
    # chimera only (ours, not the papers'): the student encoder's input of a fraction `prob` of the
    # training items gets another speaker of the batch at a SIR drawn in sir_db (targets stay clean)
    "augment": {"interference": {"prob": 0.0, "sir_db": [5.0, 25.0]}},
    # After training, BatchNorm running statistics are recomputed with the final weights over
    # this many training batches (cumulative average; 0: keep Lightning's running averages).
    "batchnorm": {"recalibrate_batches": 200},
    "trainer": {
        "max_epochs": 1000,
        "max_steps": -1,
        "limit_train_batches": None,  # int (batches) or float (fraction) per epoch
        "limit_val_batches": None,
        "check_val_every_n_epoch": 1,
        "log_every_n_steps": 10,
        "ckpt_every_n_steps": None,  # also checkpoint every n steps (long epochs)
        "early_stop_patience": None,  # stop after this many validations without a lower val_nll
        "accelerator": "auto",
        "devices": "auto",
        "strategy": "auto",  # DDP: "ddp" (Lightning only)
        "precision": "32-true",
        "gradient_clip_val": None,
        "enable_progress_bar": True,
    },
}

PRESETS = {
    # The authors' setting: 1000 epochs, batch 16 x 128 frames, Adam 1e-4 (CVAE/ACVAE), 1e-5 (Chimera).
    "paper": {},
    # 2 CPU cores, < 1 hour: batch 8 x 128 frames (seconds per step on your machine:
    # `python benchmarks/bench_networks.py`). Steps per model in CPU_MODEL_DEFAULTS.
    "cpu": {
        "optim": {"lr": 1e-3, "batch_size": 8},
        "data": {"scale_items": 500},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 1500,
            "limit_train_batches": 50,
            "limit_val_batches": 5,
            "check_val_every_n_epoch": 5,
            "ckpt_every_n_steps": 100,
        },
    },
}

# 2 CPU cores, hours in the background (the real-speech zoo, egs/vcc2018): batch 16 x 64 frames,
# Adam 3e-4 for every network (1e-3 made the CVAE's NLL diverge at 1024 bins).
PRESETS["cpu_long"] = {
    "optim": {"lr": 3e-4, "batch_size": 16},
    "data": {
        "val_fraction": 0.1,
        "scale_items": 500,
        "dataset_args": {"segment_frames": 64, "segments_per_utterance": 4, "cache": True},
    },
    "trainer": {
        "max_epochs": 100000,
        "limit_train_batches": 50,
        "limit_val_batches": 10,
        "check_val_every_n_epoch": 2,
        "ckpt_every_n_steps": 100,
        "enable_progress_bar": False,
    },
}

#: Frame priors (GASS, Subakan & Smaragdis 2018): one MLP size for all four (generator/decoder
#: latent 32 -> 512 -> 512 -> n_freq); WGAN: RMSprop 5e-5 (Arjovsky et al.), GAN: Adam 2e-4.
FRAME_PRIOR_NETWORK = {"latent_dim": 32, "hidden": [512, 512]}

MODEL_DEFAULTS = {
    "cvae": {},
    "acvae": {},
    "chimera": {"optim": {"lr": 1e-5}},
    "wgan": {"network": FRAME_PRIOR_NETWORK, "optim": {"lr": 5e-5}, "batchnorm": {"recalibrate_batches": 0}},
    "gan": {"network": FRAME_PRIOR_NETWORK, "optim": {"lr": 2e-4}, "batchnorm": {"recalibrate_batches": 0}},
    "frame_vae": {"network": FRAME_PRIOR_NETWORK, "optim": {"lr": 1e-3}, "batchnorm": {"recalibrate_batches": 0}},
    "frame_dae": {"network": FRAME_PRIOR_NETWORK, "optim": {"lr": 1e-3}, "batchnorm": {"recalibrate_batches": 0}},
}

CPU_LONG_MODEL_DEFAULTS = {  # what the zoo's 3-hour session could afford on a shared 2-core machine
    "cvae": {"trainer": {"max_steps": 1200}},
    "acvae": {"trainer": {"max_steps": 600}},
    "chimera": {"optim": {"lr": 3e-4}, "trainer": {"max_steps": 600}},
}

CPU_MODEL_DEFAULTS = {  # steps sized for under an hour each on 2 CPU cores (benchmarks/bench_networks.py)
    "cvae": {"trainer": {"max_steps": 1200}},
    "acvae": {"trainer": {"max_steps": 700}},
    "chimera": {"optim": {"lr": 3e-4}, "trainer": {"max_steps": 450}},
    # frame priors, much cheaper steps: WGAN RMSprop 5e-4 (10x the paper's 5e-5 for runs of
    # minutes; it lowered the fresh-critic Wasserstein estimate in the tests), GAN Adam 2e-4
    "wgan": {"optim": {"lr": 5e-4}, "trainer": {"max_steps": 6000}},
    "gan": {"optim": {"lr": 2e-4}, "trainer": {"max_steps": 6000}},
    "frame_vae": {"trainer": {"max_steps": 6000}},
    "frame_dae": {"trainer": {"max_steps": 6000}},
}


# The best speaker-open setting measured (egs/vcc2018 stage 11, zoo_authors: LibriSpeech plus the
# VCC2018 speakers that are not in the test mixtures): the authors' batches of 16 x 128 frames and
# CVAE/ACVAE rate 1e-4 on cpu_long's data and trainer, each network trained until its validation
# NLL stops falling (5 validations, 500 steps, without a lower one; the CVAE stopped at 5,100
# steps, about 4 s per step on one core); the ChimeraACVAE distilled at 1e-4, ten times the
# authors' rate, which reached the validation NLL of their 1e-5 in a quarter of the steps.
# Results: egs/vcc2018/results/zoo_authors, zoo_postfilter (MVAE last10 + MWF: +0.9 / +1.2 dB
# over ILRMA on unseen speakers).
PRESETS["speaker_open"] = merge(
    PRESETS["cpu_long"],
    {
        "optim": {"lr": 1e-4},
        "data": {"dataset_args": {"segment_frames": 128}},
        "trainer": {"max_steps": 9000, "early_stop_patience": 5},
    },
)
SPEAKER_OPEN_MODEL_DEFAULTS = {"chimera": {"optim": {"lr": 1e-4}}}  # over MODEL_DEFAULTS' 1e-5

#: preset -> {network: settings merged after the preset}.
PRESET_MODEL_DEFAULTS = {
    "cpu": CPU_MODEL_DEFAULTS,
    "cpu_long": CPU_LONG_MODEL_DEFAULTS,
    "speaker_open": SPEAKER_OPEN_MODEL_DEFAULTS,
}


def network_name(name: str) -> str:
    """The catalogue name of the source-model network ``name`` stands for (``CVAE`` -> ``cvae``;
    a separator: the network it needs, ``fastmvae2`` -> ``chimera``); ``ValueError`` otherwise."""
    key = catalogue.training_key(name)
    if catalogue.find(key).kind != "network":
        raise ValueError(
            f"{name!r} is trained on mixtures (asteroid_mvae.baselines.train_pit), not a source-model "
            f"network; expected one of {', '.join(catalogue.names('network'))}"
        )
    return key


def make_config(model: str = "cvae", preset: str = "paper", overrides: dict | None = None) -> dict:
    """Full configuration for ``model`` (see :func:`network_name`) from ``preset`` (a key of
    :data:`PRESETS`) + overrides; ``config["model"]`` is the network's catalogue name."""
    model = network_name(model)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    config = merge(BASE, {"model": model})
    config = merge(config, MODEL_DEFAULTS.get(model, {}))
    config = merge(config, PRESETS[preset])
    config = merge(config, PRESET_MODEL_DEFAULTS.get(preset, {}).get(model, {}))
    config = merge(config, overrides or {})
    unknown = set(config) - set(BASE)
    if unknown:
        raise ValueError(f"unknown configuration keys {sorted(unknown)}; expected {sorted(BASE)}")
    config["model"] = network_name(config["model"])
    return config
