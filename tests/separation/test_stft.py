import pytest
import torch

from asteroid_mvae.separation import StftConfig, istft, stft


@pytest.mark.parametrize("config", [StftConfig(), StftConfig(512, 128, "hann"), StftConfig(1024, 256, "hamming")])
@pytest.mark.parametrize("length", [16000, 16001, 33333])
def test_round_trip_is_exact(config, length):
    wav = torch.randn(2, 3, length, dtype=torch.float64)
    spec = stft(wav, config)
    assert spec.shape == (2, 3, config.n_freq, config.n_frames(length))
    assert torch.allclose(istft(spec, length, config), wav, atol=1e-10)


def test_default_is_the_papers_front_end():
    config = StftConfig()
    assert (config.n_fft, config.hop_length, config.window, config.n_freq) == (2048, 1024, "hamming", 1025)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="window"):
        StftConfig(window="hanning")
    with pytest.raises(ValueError, match="hop_length"):
        StftConfig(hop_length=0)
    with pytest.raises(ValueError, match="hop_length"):
        StftConfig(n_fft=1024, hop_length=1024)


def test_long_signals_go_through_in_groups(monkeypatch):
    """Past the frame budget the transforms run a group of signals at a time: same numbers."""
    import importlib

    stft_module = importlib.import_module("asteroid_mvae.separation.stft")  # the module, not the function

    config, wav = StftConfig(512, 128), torch.randn(2, 3, 8000, dtype=torch.float64)
    whole_spec = stft(wav, config)
    whole_wav = istft(whole_spec, 8000, config)
    monkeypatch.setattr(stft_module, "FRAMES_BYTES", 2 * config.n_frames(8000) * config.n_fft * 8)
    assert len(stft_module._groups(6, config.n_frames(8000), config, 8)) == 3
    torch.testing.assert_close(stft(wav, config), whole_spec, rtol=0, atol=0)
    torch.testing.assert_close(istft(whole_spec, 8000, config), whole_wav, rtol=0, atol=0)
