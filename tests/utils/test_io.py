"""Written files: atomic, the user's umask, bytes that depend on the content only, names from data kept inside."""

import os

import pytest
import torch

from asteroid_mvae.utils.io import UnsafePathError, child_path, save_torch, write_text, write_wav


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_follow_the_umask(tmp_path, umask_022):
    write_text(tmp_path / "a.txt", "x")
    write_wav(tmp_path / "a.wav", [0.0, 0.1], 16000)
    save_torch({"w": torch.ones(2)}, tmp_path / "a.pt")
    for name in ("a.txt", "a.wav", "a.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    os.umask(0o077)
    write_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600


def test_torch_files_do_not_depend_on_their_name_or_the_temporary_one(tmp_path):
    obj = {"w": torch.arange(6.0).reshape(2, 3), "meta": {"n": 1}}
    save_torch(obj, tmp_path / "one.pt")
    save_torch(obj, tmp_path / "one_again.pt")
    save_torch(obj, tmp_path / "sub" / "one.pt")
    first = (tmp_path / "one.pt").read_bytes()
    assert first == (tmp_path / "one_again.pt").read_bytes() == (tmp_path / "sub" / "one.pt").read_bytes()
    assert b".tmp" not in first
    assert torch.equal(torch.load(tmp_path / "one.pt", weights_only=True)["w"], obj["w"])
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("name", ["../x", "/../../../X", "/etc/passwd", "a/../../b", "", " ", "..\\x"])
def test_names_from_data_cannot_leave_their_folder(tmp_path, name):
    with pytest.raises(UnsafePathError, match="unsafe name"):
        child_path(tmp_path / "out", name, ".pt")


def test_plain_names_from_data_are_kept(tmp_path):
    assert child_path(tmp_path, "00_2src-mix0001", ".pt") == tmp_path / "00_2src-mix0001.pt"
    assert child_path(tmp_path, "sub/mix") == tmp_path / "sub" / "mix"
