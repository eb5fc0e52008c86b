"""Share a trained separator: asteroid's ``save_publishable`` layout plus a model card.

``publish_model(model, out_dir, metrics, ...)`` writes ``out_dir/model.pth`` (the
``serialize()`` dict with ``dataset``, ``task``, ``licenses`` (asteroid's licence dicts: the
code's and the training corpus's) and ``infos`` {recipe_name, training_config,
final_metrics}: what ``asteroid-upload`` reads), the same bytes as
``out_dir/pytorch_model.bin`` (the name asteroid and ``huggingface_hub`` fetch from the hub),
``out_dir/recipe_name.txt`` and ``out_dir/README.md`` (a ``huggingface_hub`` model card with
YAML front matter: what the model is, its data and training, its measured metrics, its
licences and how to load it by hub id). The folder is
built beside the target and renamed into place, so it is complete or absent.

Like asteroid's and ESPnet's hub cards, the card carries the measured metrics, the training
configuration and an environment block (package versions, Python, the training command when
known). Nothing published names the training machine: every string of the configuration and
of the training summary that is an absolute path (or starts with ``~``) becomes relative to the
published folder or to the folder publish runs from (the recipe's), or is left out and listed
by key (:func:`portable`).

An existing ``out_dir`` is replaced only when publish wrote it (the marker file
``.asteroid-mvae-publish`` lists its files; folders of earlier versions are recognised by their
exact file set) and it does not hold the model being published; anything else (a training
folder, a file, the current folder) is refused with :class:`PublishError` and left untouched.
"""

import contextlib
import io
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Optional, Sequence

from .compat import plain
from .utils.io import current_umask

log = logging.getLogger(__name__)

#: licence entries in asteroid's format (``make_license_notice``): the code's, then each corpus's.
CODE_LICENSE = {
    "title": "asteroid-mvae",
    "title_link": "",
    "author": "asteroid-mvae authors",
    "author_link": "",
    "license": "MIT",
    "license_link": "https://opensource.org/licenses/MIT",
    "non_commercial": False,
}
DATA_LICENSES = {
    "wsj0": {
        "title": "CSR-I (WSJ0) Complete",
        "title_link": "https://catalog.ldc.upenn.edu/LDC93S6A",
        "author": "LDC",
        "author_link": "https://www.ldc.upenn.edu/",
        "license": "LDC User Agreement for Non-Members",
        "non_commercial": True,
        "license_link": "https://catalog.ldc.upenn.edu/license/ldc-non-members-agreement.pdf",
    },
    "jvs": {
        "title": "JVS corpus",
        "title_link": "https://sites.google.com/site/shinnosuketakamichi/research-topics/jvs_corpus",
        "author": "Takamichi et al.",
        "author_link": "https://sites.google.com/site/shinnosuketakamichi/",
        "license": "CC BY-SA 4.0",
        "license_link": "https://creativecommons.org/licenses/by-sa/4.0/",
        "non_commercial": False,
    },
    "vcc2018": {
        "title": "Voice Conversion Challenge 2018 data",
        "title_link": "https://doi.org/10.7488/ds/2337",
        "author": "Lorenzo-Trueba et al.",
        "author_link": "https://datashare.ed.ac.uk/handle/10283/3061",
        "license": "CC BY 4.0",
        "license_link": "https://creativecommons.org/licenses/by/4.0/",
        "non_commercial": False,
    },
    "librispeech": {
        "title": "LibriSpeech",
        "title_link": "https://www.openslr.org/12",
        "author": "Panayotov et al.",
        "author_link": "https://www.openslr.org/12",
        "license": "CC BY 4.0",
        "license_link": "https://creativecommons.org/licenses/by/4.0/",
        "non_commercial": False,
    },
}
#: Hugging Face licence ids of the entries above (the card's front matter).
HF_LICENSES = {"MIT": "mit", "CC BY-SA 4.0": "cc-by-sa-4.0", "CC BY 4.0": "cc-by-4.0"}
#: the hub's file name for the weights (asteroid and huggingface_hub look for it).
HUB_WEIGHTS = "pytorch_model.bin"
DEFAULT_TASK = "sep_reverb"  # reverberant multichannel speech separation (no added noise)
#: the file by which publish recognises a folder it wrote (a JSON list of the files it wrote).
PUBLISH_MARKER = ".asteroid-mvae-publish"
#: the files publish writes, and those recipes/publish.py adds beside them.
PUBLISHED_FILES = ("README.md", "model.pth", HUB_WEIGHTS, "recipe_name.txt")
RECIPE_FILES = ("conf.yml", "network.pt")


class PublishError(ValueError):
    """The publish target cannot be (re)placed without losing data that publish did not write."""


def is_publish_folder(folder) -> bool:
    """Whether ``folder`` holds only what publish (and the recipes' publish step) wrote: plain
    files, with publish's marker (or, from before the marker, exactly publish's files)."""
    folder = Path(folder)
    entries = list(folder.iterdir())
    if any(entry.is_symlink() or not entry.is_file() for entry in entries):
        return False
    names = {entry.name for entry in entries}
    allowed = set(PUBLISHED_FILES) | set(RECIPE_FILES)
    if PUBLISH_MARKER in names:
        try:
            written = json.loads((folder / PUBLISH_MARKER).read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        allowed |= {str(name) for name in written} | {PUBLISH_MARKER}
    elif not set(PUBLISHED_FILES) <= names:
        return False
    return names <= allowed


def check_publish_target(out_dir, source=None) -> None:
    """:class:`PublishError` unless ``out_dir`` is absent or a publish folder that may be replaced:
    not a file or link, not the current folder or one holding it, not holding ``source`` (the
    path of the model being published), written by publish (:func:`is_publish_folder`)."""
    out = Path(os.path.abspath(out_dir))
    if out.is_symlink():
        raise PublishError(f"{out_dir} is a link; give the publish folder's own path")
    if not out.exists():
        return
    if not out.is_dir():
        raise PublishError(f"{out_dir} is an existing file, not a publish folder; choose a new folder name")
    real = out.resolve()
    if source is not None and Path(source).exists():
        src = Path(source).resolve()
        if src == real or real in src.parents:
            raise PublishError(f"{out_dir} holds the model being published ({source}); publish to a new folder")
    cwd = Path.cwd().resolve()
    if cwd == real or real in cwd.parents:
        raise PublishError(f"{out_dir} is or holds the current folder; publish to a new folder")
    if not is_publish_folder(out):
        raise PublishError(
            f"{out_dir} exists and is not a folder written by publish; nothing was replaced: "
            "choose a new folder (or remove it yourself)"
        )


CARD = """
# {name}

{description}

- Class: `{cls}` (asteroid `BaseModel`), {n_params:,} parameters
- Separation settings: {settings}
- Task: {task}; training data: {dataset}
- Licences: {licenses}

## Use

```python
import asteroid_mvae  # registers the class with asteroid
from asteroid_mvae.models import load_model

model = load_model("{hub_id}")  # hub id, or a local copy of this folder
estimates = model.forward_wav(mixture)  # [batch, mics, time] at {sample_rate} Hz -> [batch, n_src, time]
```

Command line: `asteroid-mvae separate mix.wav --model {hub_id}`.

## Metrics

{metrics}

## Configuration

{configuration}

## Training

{training}

## Environment

{environment}
"""

#: a token of free text that is an absolute POSIX or Windows path, or starts with ``~``.
_PATH_TOKEN = re.compile(r"(?<![\w.~:/\\])(?:~[\w.-]*/|/|[A-Za-z]:[\\/])[^\s,;'\"()\[\]{}]*")


def _is_machine_path(text: str) -> bool:
    """Whether ``text`` (one string) is an absolute path on some machine or starts with ``~/``."""
    home_relative = text == "~" or bool(re.match(r"~[\w.-]*/", text))
    windows = bool(re.match(r"[A-Za-z]:[\\/]", text))
    return (home_relative or os.path.isabs(text) or windows) and "\n" not in text and "://" not in text


def _portable_bases(relative_to: Sequence) -> list:
    """Absolute, normalised folders that paths may be made relative to: never the filesystem root,
    the home folder or a folder above it (a path relative to those still says where it was)."""
    home = os.path.normpath(os.path.expanduser("~"))
    bases = []
    for folder in relative_to:
        base = os.path.normpath(os.path.abspath(os.path.expanduser(str(folder))))
        if base == os.path.dirname(base) or os.path.commonpath([base, home]) == base:
            continue
        bases.append(base)
    return bases


def _relative_path(text: str, bases: list) -> Optional[str]:
    """``text`` (a machine path) relative to the first of ``bases`` holding it (POSIX separators),
    or ``None`` when none holds it."""
    if re.match(r"[A-Za-z]:[\\/]", text) and os.sep == "/":
        return None  # a Windows path seen on POSIX: under none of our folders
    path = os.path.normpath(os.path.abspath(os.path.expanduser(text)))
    for base in bases:
        if os.path.commonpath([path, base]) == base:
            return Path(os.path.relpath(path, base)).as_posix()
    return None


def _portable_text(text: str, bases: list) -> str:
    """Free text with each absolute-path token made relative (or replaced by ``<local path>``)."""

    def replace(match):
        token = match.group(0)
        if not _is_machine_path(token) or token == "/":
            return token
        return _relative_path(token, bases) or "<local path>"

    return _PATH_TOKEN.sub(replace, text)


def portable(value, relative_to: Sequence = (), _key: str = ""):
    """``value`` (nested dicts, lists, strings, numbers) without machine paths -> ``(clean, dropped)``.

    A string that is an absolute path or starts with ``~`` becomes relative to the first folder
    of ``relative_to`` holding it (e.g. ``exp/train_cvae`` for ``<recipe>/exp/train_cvae``), or is
    dropped (its dict key or list item removed) and its dotted key listed in ``dropped``
    (``["data.root", "teacher"]``). Path tokens inside longer text are made relative or replaced by
    ``<local path>``. Tuples become lists, other objects their ``str``; the result is plain JSON.
    """
    bases = _portable_bases(relative_to)
    dropped: list = []
    clean = _portable(value, bases, _key, dropped)
    return clean, dropped


def _portable(value, bases: list, key: str, dropped: list):
    """The recursion of :func:`portable`; a dropped value comes back as ``_DROPPED``."""
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            clean = _portable(item, bases, f"{key}.{name}" if key else str(name), dropped)
            if clean is not _DROPPED:
                out[name] = clean
        return out
    if isinstance(value, (list, tuple)):
        items = [_portable(item, bases, f"{key}[{i}]", dropped) for i, item in enumerate(value)]
        return [item for item in items if item is not _DROPPED]
    if isinstance(value, str):
        value = str(value)
        if _is_machine_path(value.strip()):
            relative = _relative_path(value.strip(), bases)
            if relative is None:
                dropped.append(key or "(value)")
                return _DROPPED
            return relative
        return _portable_text(value, bases) if ("/" in value or "~" in value or "\\" in value) else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _portable(str(value), bases, key, dropped)


_DROPPED = object()


def environment(train_command: Optional[str] = None) -> dict:
    """The environment block of a card: versions of asteroid-mvae, asteroid, torch, Lightning and
    Python, the date, and the training command when known (``None`` entries are left out)."""

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    from . import __version__

    env = {
        "asteroid-mvae": __version__,
        "asteroid": version("asteroid"),
        "torch": version("torch"),
        "pytorch-lightning": version("pytorch-lightning"),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "training command": train_command,
    }
    return {k: v for k, v in env.items() if v}


def _yaml_block(value) -> str:
    """A fenced YAML block of plain data (keys in their order)."""
    import yaml

    text = yaml.safe_dump(
        json.loads(json.dumps(plain(value), default=str)), sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return "```yaml\n" + text + "```"


def _dropped_note(dropped: list) -> str:
    if not dropped:
        return ""
    return "\n\nLeft out (paths on the training machine): " + ", ".join(f"`{key}`" for key in dropped) + "."


def licenses_for(dataset: str, extra: Optional[list] = None) -> list:
    """asteroid licence dicts: the code's, the corpus's (when ``dataset`` names a known one) and
    ``extra`` (dicts, or plain titles: an entry with unknown links)."""
    entries = [dict(CODE_LICENSE)]
    for key, entry in DATA_LICENSES.items():
        if key in str(dataset).lower():
            entries.append(dict(entry))
    for item in extra or []:
        if isinstance(item, dict):
            entries.append(dict(item))
        else:
            entries.append(
                {
                    "title": str(item),
                    "title_link": "",
                    "author": "unknown",
                    "author_link": "",
                    "license": str(item),
                    "license_link": "",
                    "non_commercial": False,
                }
            )
    return entries


def _markdown_metrics(metrics: dict, test_set: str = "") -> str:
    if not metrics:
        return "(no metrics given: evaluate the model and publish again with --metrics)"
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if not flat:
        return "```json\n" + json.dumps(metrics, indent=2) + "\n```"
    head = f"On {test_set}:\n\n" if test_set else ""
    rows = ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in flat.items()]
    return head + "\n".join(rows)


def _configuration_text(train_conf: Optional[dict], dropped: Sequence = ()) -> str:
    """The card's configuration block (``train_conf`` already path-free)."""
    if not train_conf:
        return "(no training configuration given: publish with --train-conf to include it)"
    return "Training configuration:\n\n" + _yaml_block(train_conf) + _dropped_note(list(dropped))


def _training_text(info: dict, trained: bool, dropped: Sequence = ()) -> str:
    """The card's training block: the model's training summary (already path-free)."""
    if info:
        return "Training summary recorded with the model:\n\n" + _yaml_block(info) + _dropped_note(list(dropped))
    if trained:
        return "(no training summary recorded with the model)"
    return "(not trained: a statistical separator such as AuxIVA or ILRMA)"


def _environment_text(env: dict) -> str:
    return "\n".join(f"- {key}: `{value}`" for key, value in env.items())


def _card_data(licenses: list, dataset: str, task: str):
    from huggingface_hub import ModelCardData

    codes = [HF_LICENSES.get(entry.get("license"), "other") for entry in licenses]
    data_ids = [key for key in DATA_LICENSES if key in str(dataset).lower()]
    return ModelCardData(
        library_name="asteroid",
        license=codes[0] if len(set(codes)) == 1 else "other",
        tags=["asteroid", "audio", "speech-separation", "multichannel", "asteroid-mvae", task],
        datasets=data_ids or None,
    )


def model_card(
    model,
    name: str,
    dataset: str,
    licenses: list,
    metrics: dict,
    description: str = "",
    hub_id: str = "<owner>/<name>",
    task: str = DEFAULT_TASK,
    train_conf: Optional[dict] = None,
    test_set: str = "",
    train_command: Optional[str] = None,
    relative_to: Sequence = (),
) -> str:
    """The README.md text of a published model: ``huggingface_hub.ModelCard`` with YAML front
    matter (library, tags, licence, datasets), then usage, metrics, configuration, training
    summary and environment; no machine paths (:func:`portable` against ``relative_to``)."""
    from huggingface_hub import ModelCard

    args = model.get_model_args()
    settings = ", ".join(
        f"{k}={args[k]}" for k in ("n_src", "n_iter", "n_fft", "hop_length", "update", "ref_mic") if k in args
    )
    doc = (type(model).__doc__ or "").strip().splitlines()
    conf, conf_dropped = portable(train_conf or {}, relative_to)
    info, info_dropped = portable(getattr(model, "training_info", {}) or {}, relative_to)
    recorded = info.get("command") if isinstance(info.get("command"), str) else ""  # if training recorded it
    command, _ = portable(train_command or recorded, relative_to)
    metrics, _ = portable(dict(metrics or {}), relative_to)
    body = CARD.format(
        name=name,
        description=description or (doc[0] if doc else type(model).__name__),
        cls=f"{type(model).__module__}.{type(model).__qualname__}",
        n_params=sum(p.numel() for p in model.parameters()),
        settings=settings,
        dataset=dataset,
        task=task,
        licenses="; ".join(
            f"{e['title']}: {e['license']}" + (" (research only)" if e.get("non_commercial") else "") for e in licenses
        ),
        hub_id=hub_id,
        sample_rate=int(model.sample_rate),
        metrics=_markdown_metrics(metrics, test_set),
        configuration=_configuration_text(conf, conf_dropped),
        training=_training_text(info, any(True for _ in model.parameters()), info_dropped),
        environment=_environment_text(environment(command or None)),
    )
    return str(ModelCard("---\n" + _card_data(licenses, dataset, task).to_yaml() + "\n---\n" + body))


def publish_model(
    model,
    out_dir,
    metrics: dict,
    dataset: str = "unknown",
    licenses: Optional[list] = None,
    train_conf: Optional[dict] = None,
    recipe: str = "Unknown",
    name: Optional[str] = None,
    description: str = "",
    task: str = DEFAULT_TASK,
    hub_id: Optional[str] = None,
    test_set: str = "",
    source=None,
    train_command: Optional[str] = None,
    relative_to: Optional[Sequence] = None,
) -> Path:
    """Write the publishable folder of ``model`` (see the module docstring) and return it.

    ``licenses``: extra licence entries (dicts in asteroid's format, or titles) beside the
    code's and the corpus's (from ``dataset``); ``hub_id``: the id the card's usage shows;
    ``source``: the file or folder the model was loaded from (never replaced);
    ``train_command``: the command that trained the model (the card's environment block;
    default: the ``command`` entry of the model's training summary, when it has one);
    ``relative_to``: folders that paths in ``train_conf`` and the model's training summary are
    made relative to (default: the current folder, e.g. the recipe's); the published folder
    itself comes first. Other absolute paths are left out of the card and of ``model.pth``.
    :class:`PublishError` (nothing touched) if ``out_dir`` exists and may not be replaced
    (:func:`check_publish_target`).
    """
    from asteroid.models.publisher import save_publishable

    check_publish_target(out_dir, source)
    given, out_dir = Path(out_dir), Path(os.path.abspath(out_dir))
    bases = [out_dir, *(relative_to if relative_to is not None else [Path.cwd()])]
    entries = licenses_for(dataset, licenses)
    stored_conf = portable(train_conf, bases)[0] if train_conf is not None else None
    model_dict = model.serialize()
    model_dict.update(dataset=dataset, licenses=entries, task=task)
    if model_dict["model_args"].get("training_info"):  # the loaded model's training_info: path-free too
        model_dict["model_args"]["training_info"], _ = portable(model_dict["model_args"]["training_info"], bases)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the folder follows the user's umask
    try:
        (tmp / "recipe_name.txt").write_text(recipe + "\n", encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):  # its upload hint names this temporary folder
            save_publishable(
                str(tmp), plain(model_dict), metrics=plain(dict(metrics)), train_conf=stored_conf, recipe=recipe
            )
        shutil.copyfile(tmp / "model.pth", tmp / HUB_WEIGHTS)  # asteroid-upload reads model.pth, the hub this
        card = model_card(
            model,
            name or type(model).__name__,
            dataset,
            entries,
            metrics,
            description,
            hub_id=hub_id or f"<owner>/{out_dir.name}",
            task=task,
            train_conf=train_conf,
            test_set=test_set,
            train_command=train_command,
            relative_to=bases,
        )
        (tmp / "README.md").write_text(card, encoding="utf-8")
        (tmp / PUBLISH_MARKER).write_text(
            json.dumps({"files": sorted(p.name for p in tmp.iterdir())}) + "\n", encoding="utf-8"
        )
        for path in tmp.iterdir():
            os.chmod(path, 0o666 & ~current_umask())
        _move_into_place(tmp, out_dir, source)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info('published %s; share it with `asteroid-upload %s --uploader "Your name"`', given, given)
    return given


def publish_network_package(src, dst, relative_to: Optional[Sequence] = None) -> Path:
    """Write the network package ``src`` to ``dst`` (atomically) with its ``training`` summary
    path-free (:func:`portable` against the folder of ``dst`` and ``relative_to``, default: the
    current folder): the copy a publish folder ships beside ``model.pth``. Returns ``dst``."""
    from .utils.io import save_torch
    from .utils.safe_load import load_tensors

    package = load_tensors(src, map_location="cpu", what="network package")
    dst = Path(dst)
    bases = [Path(os.path.abspath(dst)).parent, *(relative_to if relative_to is not None else [Path.cwd()])]
    if isinstance(package, dict) and isinstance(package.get("training"), dict):
        package["training"] = portable(package["training"], bases)[0]
    save_torch(package, dst)
    return dst


def _move_into_place(tmp: Path, out_dir: Path, source=None) -> None:
    """Rename the finished folder ``tmp`` onto ``out_dir``; a previous publish folder there is
    checked again (it may have changed while the model was written), set aside, then removed."""
    check_publish_target(out_dir, source)
    if not out_dir.exists():
        os.replace(tmp, out_dir)  # an empty folder appearing meanwhile is replaced; a full one is an error
        return
    old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
    try:
        os.replace(out_dir, old)  # onto the empty folder just made
    except BaseException:
        os.rmdir(old)
        raise
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)  # put the previous folder back
        raise
    shutil.rmtree(old, ignore_errors=True)
