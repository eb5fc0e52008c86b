"""Speaker-balanced sampling: every speaker appears equally often in each epoch and each batch."""
import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler):
    """A sampler whose order depends on ``seed + epoch`` alone (Lightning calls :meth:`set_epoch`)."""

    def __init__(self, seed: int = 0):
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)


class BalancedSpeakerSampler(EpochSeededSampler):
    """Yield dataset indices speaker by speaker in round-robin, so consecutive indices cover all speakers.

    An epoch has ``len(labels)`` indices (or ``num_samples``). Each round visits every speaker once
    in a random order; a speaker's items are drawn without replacement from a reshuffled cycle, so
    speakers with few items repeat and those with many are sub-sampled evenly across epochs.

    Args:
        labels: per-item speaker label indices (sequence of int).
        num_samples: indices per epoch (default ``len(labels)``).
        seed: base seed; the epoch set by :meth:`set_epoch` is added (Lightning calls it).
    """

    def __init__(self, labels, num_samples=None, seed: int = 0):
        labels = torch.as_tensor(list(labels), dtype=torch.long)
        if labels.numel() == 0:
            raise ValueError("BalancedSpeakerSampler needs at least one item")
        self.items_by_speaker = [torch.nonzero(labels == s).flatten() for s in torch.unique(labels)]
        self.num_samples = int(num_samples or labels.numel())
        super().__init__(seed)

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        generator = self.generator()
        queues = [items[torch.randperm(len(items), generator=generator)].tolist() for items in self.items_by_speaker]
        positions = [0] * len(queues)
        order = []
        while len(order) < self.num_samples:
            for speaker in torch.randperm(len(queues), generator=generator).tolist():
                if positions[speaker] == len(queues[speaker]):
                    items = self.items_by_speaker[speaker]
                    queues[speaker] = items[torch.randperm(len(items), generator=generator)].tolist()
                    positions[speaker] = 0
                order.append(queues[speaker][positions[speaker]])
                positions[speaker] += 1
        return iter(order[: self.num_samples])


class EpochShuffleSampler(EpochSeededSampler):
    """A random permutation of ``range(n)`` per epoch, drawn from ``seed + epoch`` alone.

    ``DataLoader(shuffle=True, generator=g)`` carries its generator's state from epoch to epoch,
    so a training resumed from a checkpoint would see other orders; this one does not.
    """

    def __init__(self, n: int, seed: int = 0):
        super().__init__(seed)
        self.n = int(n)

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator()).tolist())
