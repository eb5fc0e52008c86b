"""Multichannel file separation: model.separate, chunked overlap-add, asteroid.separate, and the infer command."""

import numpy as np
import soundfile as sf
import torch

from asteroid_mvae.cli import main
from asteroid_mvae.models import load_model
from asteroid_mvae.models.chunked import separate_in_chunks


def test_overlap_add_reconstructs_a_chunk_independent_output():
    wav = torch.randn(2, 3, 10_001)
    first_two = lambda chunk: chunk[:, :2] * 0.5  # noqa: E731  (a "separator" that does not depend on the chunking)
    for window, hop in ((4096, 2048), (3000, 1000), (20_000, None)):
        torch.testing.assert_close(separate_in_chunks(first_two, wav, window, hop), wav[:, :2] * 0.5)


def test_chunks_keep_the_sources_in_order():
    """A separator whose output order flips from chunk to chunk is re-aligned on the overlaps."""
    t = torch.arange(20_000, dtype=torch.float64)
    sources = torch.stack([torch.sin(0.01 * t), torch.sign(torch.sin(0.003 * t))])[None]
    calls = []

    def flipping(chunk):
        calls.append(1)
        out = chunk[:, :2]
        return out.flip(1) if len(calls) % 2 else out

    torch.testing.assert_close(separate_in_chunks(flipping, sources, 4000, 2000).flip(1), sources)


def test_model_separate_keeps_scale_and_accepts_more_mics_than_sources(room, sisdri):
    from asteroid.separate import separate as asteroid_separate

    mixture, references = room(2, 0.15, seconds=4.0)
    model = load_model("ilrma", n_iter=30)
    wav = torch.from_numpy(mixture)
    estimates = model.separate(wav)
    torch.testing.assert_close(estimates, model.forward_wav(wav))  # no rescaling
    assert sisdri(estimates, references, mixture[0]) > 3.0
    three_mics = torch.cat([wav, wav[:1] * 0.7 + wav[1:] * 0.3])[None]
    assert model.separate(three_mics).shape == (1, 2, wav.shape[-1])
    assert asteroid_separate(model, three_mics).shape == (1, 2, wav.shape[-1])  # asteroid's path: no channel check


def test_infer_command_multichannel_resample_and_chunks(tmp_path, room, sisdri):
    mixture, references = room(2, 0.15, seconds=6.0)
    path = tmp_path / "in" / "mix.wav"
    path.parent.mkdir()
    sf.write(path, mixture.T, 16000, subtype="FLOAT")
    torch.save(load_model("ilrma", n_iter=30).serialize(), tmp_path / "ilrma.pth")
    out = tmp_path / "out"
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(path.parent), "-o", str(out)]) == 0
    estimates = np.stack([sf.read(out / f"mix_s{k}.wav")[0] for k in (1, 2)])
    assert sisdri(estimates, references, mixture[0]) > 3.0
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(path), "-o", str(out), "-w", "48000", "-f"]) == 0
    chunked = np.stack([sf.read(out / f"mix_s{k}.wav")[0] for k in (1, 2)])
    assert np.isfinite(chunked).all() and sisdri(chunked, references, mixture[0]) > 1.0
    low = tmp_path / "low.wav"
    import torchaudio

    sf.write(low, torchaudio.functional.resample(torch.from_numpy(mixture), 16000, 8000).numpy().T, 8000)
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(low), "-o", str(out)]) == 2
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(low), "-o", str(out), "-r"]) == 0
    info = sf.info(str(out / "low_s1.wav"))
    assert info.samplerate == 8000 and info.channels == 1


def test_infer_refuses_missing_files_and_skips_existing_outputs(tmp_path, capsys):
    torch.save(load_model("ilrma", n_iter=2).serialize(), tmp_path / "ilrma.pth")
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(tmp_path / "nothing*.wav")]) == 2
    assert "no such file" in capsys.readouterr().err
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal((8000, 2)).astype(np.float32) * 0.1, 16000)
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(wav)]) == 0
    before = (tmp_path / "a_s1.wav").read_bytes()
    assert main(["infer", str(tmp_path / "ilrma.pth"), "--files", str(wav)]) == 0  # exists: kept
    assert (tmp_path / "a_s1.wav").read_bytes() == before


def test_model_separate_file_names_and_bytes_match_the_command_line(tmp_path):
    """One output naming: ``model.separate("mix.wav")`` writes what ``asteroid-mvae separate`` writes."""
    wav = tmp_path / "mix.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal((16000, 2)).astype(np.float32) * 0.1, 16000)
    model = load_model("ilrma", n_iter=5)
    written = model.separate(str(wav), output_dir=str(tmp_path / "py"))
    assert [p.name for p in written] == ["mix_s1.wav", "mix_s2.wav"]
    torch.save(model.serialize(), tmp_path / "ilrma.pth")
    assert main(["separate", "--model", str(tmp_path / "ilrma.pth"), str(wav), "-o", str(tmp_path / "cli")]) == 0
    for name in ("mix_s1.wav", "mix_s2.wav"):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    assert not list(tmp_path.glob("**/*_est*.wav"))
