"""The one reader of ``torch.save`` files: tensors and plain data only, whatever the environment.

Every file this package reads back (saved models, network packages, re-training shards,
Lightning checkpoints) goes through :func:`load_tensors`:

- ``torch.load(..., weights_only=True)``: torch's restricted unpickler, which builds tensors,
  containers and numbers and refuses every other global, so a crafted file cannot run code.
  The flag is always passed explicitly: torch (2.6 and later) lets the environment variable
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` turn the weights-only mode off only for callers that
  did *not* pass it (``torch/serialization.py``, ``load``), so an explicit ``True`` holds with
  the variable set; ``tests/models/test_safe_loading.py`` checks it.
- only regular files are opened (a FIFO given as a model would block forever);
- every failure becomes one ``ValueError`` line naming the file and the problem (torch's
  refusal suggests ``weights_only=False``: never the advice for a file of unknown origin).
  A missing file stays a ``FileNotFoundError``.
"""

import os
import pickle
import stat
import warnings

#: the first words of the refusal of a file with Python objects (tests match them).
NOT_TENSORS_ONLY = "is not a tensors-only file"


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip()
    line = text.splitlines()[0].strip() if text else type(err).__name__
    return line[:limit]


def check_regular_file(path) -> None:
    """``ValueError`` unless ``path`` is a regular file (after links); ``FileNotFoundError`` if absent."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(2, "No such file or directory", str(path)) from None
    if not stat.S_ISREG(mode):
        kind = (
            "a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
        )
        raise ValueError(f"{path}: not a regular file ({kind}); give a saved model or package file.")


def load_tensors(path, map_location="cpu", what: str = "torch file", mmap: bool = False):
    """The object saved at ``path`` (a path, or an open binary file), read with torch's
    weights-only unpickler: tensors, containers of them and plain data only.

    ``ValueError`` naming the problem for non-regular files, files holding other Python objects
    (``"<path> is not a tensors-only file ..."``) and unreadable files (truncated, not a torch
    file); ``FileNotFoundError`` for a missing path. ``what`` names the expected kind in the
    message of an unreadable file (``"model file"``, ``"network package"``). ``mmap``: map the
    tensors' storage from the file instead of reading it (a path only; for data larger than memory).
    """
    import torch

    from .. import compat

    compat.apply()  # asteroid's serialize() stores a TorchVersion: allowed as plain data
    is_path = isinstance(path, (str, bytes, os.PathLike))
    if is_path:
        check_regular_file(path)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True, mmap=bool(mmap and is_path))
    except pickle.UnpicklingError:
        raise ValueError(
            f"{path} {NOT_TENSORS_ONLY}: it holds Python objects beyond tensors and plain data, "
            f"and loading them could run code; refused (re-save it with tensors and plain data only)."
        ) from None
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated zip, text, empty file, a TorchScript archive: all unusable
        raise ValueError(f"{path}: not a readable {what} ({type(err).__name__}: {_first_line(err)}).") from None
