"""Deep clustering (Hershey, Chen, Le Roux, Watanabe, ICASSP 2016), single channel.

A BLSTM maps the log-magnitude spectrogram of the reference microphone to a unit-norm
embedding per time-frequency bin, trained with asteroid's ``deep_clustering_loss`` so that
bins dominated by the same source have close embeddings. At test time k-means groups the
embeddings of the active bins into ``n_src`` clusters (any number: the network does not
know N), each cluster a binary mask on the mixture STFT.
"""

import torch
from asteroid.engine import System
from asteroid.losses import deep_clustering_loss

from ..models.base import SafeLoadingModel
from .pit import sized

#: Network sizes: "standard" is the paper's (2 BLSTM layers of 600 units per direction, D = 40).
SIZES = {
    "tiny": dict(hidden=32, n_layers=1, emb_dim=8),
    "small": dict(hidden=128, n_layers=2, emb_dim=20),
    "standard": dict(hidden=600, n_layers=2, emb_dim=40),
}


@torch.no_grad()
def kmeans(points: torch.Tensor, k: int, weights: torch.Tensor, n_iter: int = 30, seed: int = 0) -> torch.Tensor:
    """Weighted k-means, k-means++ start drawn from ``seed``: ``points [n, d]``, ``weights [n]``
    (0: not used to fit the centroids) -> centroids ``[k, d]``."""
    generator = torch.Generator().manual_seed(int(seed))
    active = points[weights > 0] if bool((weights > 0).sum() >= k) else points
    first = int(torch.randint(len(active), (1,), generator=generator))
    centroids = [active[first]]
    for _ in range(1, k):
        d2 = torch.cdist(active, torch.stack(centroids)).pow(2).min(dim=1).values
        probs = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / len(d2))
        centroids.append(active[int(torch.multinomial(probs.cpu(), 1, generator=generator))])
    centroids = torch.stack(centroids)
    for _ in range(n_iter):
        assign = torch.cdist(points, centroids).argmin(dim=1)
        one_hot = torch.nn.functional.one_hot(assign, k).to(points.dtype) * weights[:, None]
        mass = one_hot.sum(dim=0)
        updated = (one_hot.T @ points) / mass.clamp_min(1e-12)[:, None]
        centroids = torch.where(mass[:, None] > 0, updated, centroids)  # an empty cluster keeps its centroid
    return centroids


class DeepClustering(SafeLoadingModel):
    """Deep clustering separator: ``forward_wav([batch, 1 | mics, time]) -> [batch, n_src, time]``
    (multichannel input: the reference microphone ``ref_mic``).

    Args:
        n_src: clusters at separation (may differ from the training mixtures' N).
        n_fft, hop_length: STFT (Hann window). hidden, n_layers: BLSTM units per direction and layers.
        emb_dim: embedding dimension D. vad_db: bins more than this below the mixture's loudest
            bin are silent (left out of the loss and of the centroid fit).
        kmeans_iter, seed: k-means at separation (seeded k-means++ start).

    References:
        [1] J. R. Hershey, Z. Chen, J. Le Roux, S. Watanabe, "Deep clustering: Discriminative embeddings for
            segmentation and separation", in Proc. IEEE ICASSP, 2016.
    """

    single_channel = True

    def __init__(
        self,
        n_src=2,
        n_fft=512,
        hop_length=128,
        hidden=128,
        n_layers=2,
        emb_dim=20,
        vad_db=40.0,
        kmeans_iter=30,
        seed=0,
        ref_mic=0,
        sample_rate=16000,
    ):
        super().__init__(sample_rate=sample_rate, in_channels=None)
        self.n_src, self.n_fft, self.hop_length, self.vad_db = int(n_src), int(n_fft), int(hop_length), float(vad_db)
        self.hidden, self.n_layers, self.emb_dim = int(hidden), int(n_layers), int(emb_dim)
        self.kmeans_iter, self.seed, self.ref_mic = int(kmeans_iter), int(seed), int(ref_mic)
        n_freq = self.n_fft // 2 + 1
        self.blstm = torch.nn.LSTM(n_freq, self.hidden, num_layers=self.n_layers, batch_first=True, bidirectional=True)
        self.project = torch.nn.Linear(2 * self.hidden, n_freq * self.emb_dim)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, time]`` -> complex ``[batch, freq, frames]``."""
        return torch.stft(wav, self.n_fft, self.hop_length, window=self.window, return_complex=True)

    def active_bins(self, mixture_spec: torch.Tensor) -> torch.Tensor:
        """``[batch, freq, frames]`` bool: bins within ``vad_db`` of the loudest bin of their mixture."""
        level = 20 * torch.log10(mixture_spec.abs() + 1e-8)
        return level > level.amax(dim=(1, 2), keepdim=True) - self.vad_db

    def embed(self, mixture_spec: torch.Tensor) -> torch.Tensor:
        """Complex ``[batch, freq, frames]`` -> unit-norm embeddings ``[batch, freq * frames, emb_dim]``
        (freq-major, the layout of asteroid's ``deep_clustering_loss``)."""
        batch, n_freq, frames = mixture_spec.shape
        logmag = torch.log1p(mixture_spec.abs()).transpose(1, 2)  # [batch, frames, freq]
        logmag = (logmag - logmag.mean(dim=(1, 2), keepdim=True)) / (logmag.std(dim=(1, 2), keepdim=True) + 1e-5)
        out, _ = self.blstm(logmag)
        emb = torch.tanh(self.project(out)).view(batch, frames, n_freq, self.emb_dim).transpose(1, 2)
        emb = torch.nn.functional.normalize(emb, dim=-1)
        return emb.reshape(batch, n_freq * frames, self.emb_dim)

    def _mono(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            return wav[None]
        if wav.dim() == 3:
            return wav[:, self.ref_mic] if wav.shape[1] > self.ref_mic else wav[:, 0]
        return wav

    def loss(self, mixture: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Mean deep-clustering loss: ``mixture [batch, time]`` (or ``[batch, 1, time]``),
        ``references [batch, n_src, time]`` (the sources at the reference microphone)."""
        mixture = self._mono(mixture)
        spec = self.stft(mixture)
        batch, n_src = references.shape[:2]
        ref_spec = self.stft(references.reshape(batch * n_src, -1)).reshape(batch, n_src, *spec.shape[1:])
        dominant = ref_spec.abs().argmax(dim=1)  # [batch, freq, frames]
        active = self.active_bins(spec).reshape(batch, -1, 1)
        return deep_clustering_loss(self.embed(spec), dominant, binary_mask=active).mean()

    def masks(self, spec: torch.Tensor, n_src=None) -> torch.Tensor:
        """Binary masks ``[batch, n_src, freq, frames]`` from k-means on the embeddings."""
        n_src = self.n_src if n_src is None else int(n_src)
        batch, n_freq, frames = spec.shape
        emb = self.embed(spec)
        weights = self.active_bins(spec).reshape(batch, -1).to(emb.dtype)
        out = []
        for b in range(batch):
            centroids = kmeans(emb[b], n_src, weights[b], self.kmeans_iter, self.seed)
            assign = torch.cdist(emb[b], centroids).argmin(dim=1)
            out.append(torch.nn.functional.one_hot(assign, n_src).T.reshape(n_src, n_freq, frames))
        return torch.stack(out).to(spec.real.dtype)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``[time]``, ``[batch, time]`` or ``[batch, channels, time]`` -> ``[batch, n_src, time]``."""
        mono = self._mono(wav)
        spec = self.stft(mono)
        masks = self.masks(spec)
        batch, n_src = masks.shape[:2]
        est = torch.istft(
            (masks * spec[:, None]).reshape(batch * n_src, *spec.shape[1:]),
            self.n_fft,
            self.hop_length,
            window=self.window,
            length=mono.shape[-1],
        )
        return est.reshape(batch, n_src, -1)

    def get_model_args(self):
        return dict(
            n_src=self.n_src,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            hidden=self.hidden,
            n_layers=self.n_layers,
            emb_dim=self.emb_dim,
            vad_db=self.vad_db,
            kmeans_iter=self.kmeans_iter,
            seed=self.seed,
            ref_mic=self.ref_mic,
            sample_rate=self.sample_rate,
        )


def build_deep_clustering(n_src: int = 2, sample_rate: int = 16000, size: str = "small", **overrides) -> DeepClustering:
    """A fresh :class:`DeepClustering` of size ``tiny`` / ``small`` / ``standard`` (the paper's)."""
    return DeepClustering(n_src=n_src, sample_rate=sample_rate, **sized("deep_clustering", SIZES, size, overrides))


class DeepClusteringSystem(System):
    """asteroid ``System`` whose step is the network's deep-clustering loss on
    ``(mixture [batch, time], references [batch, n_src, time])`` batches."""

    def common_step(self, batch, batch_nb, train=True):
        mixture, references = batch
        return self.model.loss(mixture, references)
