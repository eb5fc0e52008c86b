"""Samplers whose order is a function of (seed, epoch) alone, and a loader Lightning can resume
mid-epoch: speaker-balanced epochs for the source models, shuffled epochs for the re-training and
single-channel baselines (a killed and resumed training then equals the uninterrupted one)."""

import torch
from torch.utils.data import DataLoader, Sampler


class EpochSeededSampler(Sampler):
    """A sampler whose order depends on ``seed + epoch`` alone (Lightning calls :meth:`set_epoch`).

    Subclasses define :meth:`order`; :meth:`skip_next` drops the first indices of the next
    iteration once (a training resumed mid-epoch, see :class:`ResumableLoader`).
    """

    def __init__(self, seed: int = 0):
        self.seed, self.epoch, self._skip = int(seed), 0, (0, 0)
        self.listeners = []  #: called with each epoch set (a dataset drawing per-epoch segments)

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)
        for listener in self.listeners:
            listener(self.epoch)

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)

    def order(self) -> list:
        """This epoch's indices."""
        raise NotImplementedError

    def skip_next(self, n_indices: int, epoch: int):
        """Drop the first ``n_indices`` of the next iteration if it is epoch ``epoch`` (a resume
        mid-epoch; an epoch-end checkpoint resumes with the next epoch, skipping nothing)."""
        self._skip = (int(n_indices), int(epoch))

    def __iter__(self):
        (skip, epoch), self._skip = self._skip, (0, 0)
        return iter(self.order()[skip if epoch == self.epoch else 0 :])


class ResumableLoader(DataLoader):
    """A ``DataLoader`` (same arguments; its sampler an :class:`EpochSeededSampler`) that
    Lightning resumes mid-epoch: Lightning stores :meth:`state_dict` in every checkpoint and
    loads it before iterating again, and the resumed epoch skips the batches already trained on.

    ``batches_done`` is kept by :func:`asteroid_mvae.training.systems.exact_resume_callback`
    (the loader itself cannot tell trained batches from Lightning's prefetched one).
    """

    batches_done = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if hasattr(self.dataset, "set_epoch") and isinstance(self.sampler, EpochSeededSampler):
            self.sampler.listeners.append(self.dataset.set_epoch)  # Lightning sets every epoch, resumed or not

    def state_dict(self) -> dict:
        return {"epoch": int(self.sampler.epoch), "batches_done": int(self.batches_done)}

    def load_state_dict(self, state: dict):
        """Resume: skip the batches trained in the saved epoch. A dataset drawing per-epoch
        segments follows the sampler's epoch (Lightning does not call ``on_train_epoch_start``
        for an epoch resumed midway, nor for the one after an epoch-end checkpoint)."""
        self.batches_done = int(state["batches_done"])
        self.sampler.set_epoch(int(state["epoch"]))
        self.sampler.skip_next(self.batches_done * self.batch_size, int(state["epoch"]))


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

    def order(self) -> list:
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
        return order[: self.num_samples]


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

    def order(self) -> list:
        return torch.randperm(self.n, generator=self.generator()).tolist()
