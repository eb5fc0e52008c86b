"""Training-time augmentation of the source models' encoder inputs.

Interference augmentation (ours, not in the FastMVAE/FastMVAE2 papers): at separation time the
encoder sees imperfectly separated outputs, a target speaker plus residual interference, while
it was trained on one speaker alone. Here the encoder (and classifier) input of some items is
the target plus another speaker of the batch at a random signal-to-interference ratio, while
every reconstruction target and the teacher's latent stay those of the clean target: the
encoder learns to map an interfered output to its target's latent (a denoising encoder). It is
the supervised counterpart of re-training with mixture signals (Yamaji et al.).
"""

import torch


def add_interference(magnitude: torch.Tensor, labels: torch.Tensor, prob: float, sir_db=(5.0, 25.0)) -> torch.Tensor:
    """Magnitudes of the target plus another speaker of the batch (power-additive).

    Item ``b`` (chosen with probability ``prob``) becomes ``sqrt(|s_b|^2 + g_b |s_p|^2)``, ``p``
    the item ``shift`` places further in the batch (one random shift for the batch) when its
    speaker differs, with ``g_b`` setting the segment's signal-to-interference ratio to a
    uniform draw in ``sir_db``. Power addition is the expected power of a sum of independent
    phases. Draws come from torch's global generator (seeded per epoch by the training system).

    Args:
        magnitude: ``[batch, freq, frames]``; labels: ``[batch]`` speaker indices.
    Returns:
        ``[batch, freq, frames]`` (the input itself when nothing is corrupted).
    """
    batch = magnitude.shape[0]
    if prob <= 0 or batch < 2:
        return magnitude
    low, high = float(sir_db[0]), float(sir_db[1])
    if not low <= high:
        raise ValueError(f"sir_db must be (low, high) with low <= high; got {sir_db}")
    shift = int(torch.randint(1, batch, ()))
    partner = torch.roll(torch.arange(batch, device=magnitude.device), shift)
    chosen = (torch.rand(batch, device=magnitude.device) < prob) & (labels[partner] != labels)
    sir = low + (high - low) * torch.rand(batch, device=magnitude.device)
    power = magnitude.square()
    target_power = power.mean((1, 2))
    interference_power = power[partner].mean((1, 2)).clamp_min(1e-20)
    gain = torch.where(chosen, 10 ** (-sir / 10) * target_power / interference_power, torch.zeros_like(sir))
    return (power + gain[:, None, None] * power[partner]).sqrt()
