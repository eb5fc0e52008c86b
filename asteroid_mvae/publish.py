"""Share a trained separator: asteroid's ``save_publishable`` layout plus a model card.

``publish_model(model, out_dir, metrics, ...)`` writes ``out_dir/model.pth`` (the
``serialize()`` dict with ``dataset``, ``licenses`` and ``infos`` {recipe_name,
training_config, final_metrics}, exactly what asteroid's uploader expects),
``out_dir/recipe_name.txt`` and ``out_dir/README.md`` (the model card: what the model is,
its data and training, its measured metrics, its licence and how to load it). The folder is
built beside the target and renamed into place, so it is complete or absent.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from .compat import plain
from .utils.io import current_umask

CODE_LICENSE = "MIT (asteroid-mvae code)"

CARD = """# {name}

{description}

- Class: `asteroid_mvae.models.{cls}` (asteroid `BaseModel`), {n_params:,} parameters
- Separation settings: {settings}
- Data: {dataset}
- Licences: {licenses}

## Use

```python
from asteroid_mvae.models import load_model

model = load_model("{folder}")  # this folder, its model.pth, or a hub id
estimates = model.forward_wav(mixture)  # [batch, mics, time] at {sample_rate} Hz -> [batch, n_src, time]
```

Command line: `asteroid-mvae separate mix.wav --model {folder}`.

## Training

{training}

## Measured metrics

{metrics}
"""


def _markdown_metrics(metrics: dict) -> str:
    if not metrics:
        return "(none given)"
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if not flat:
        return "```json\n" + json.dumps(metrics, indent=2) + "\n```"
    rows = ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in flat.items()]
    return "\n".join(rows)


def _training_text(info: dict) -> str:
    if not info:
        return "(no training information: a non-trained separator such as AuxIVA or ILRMA)"
    return "```json\n" + json.dumps(plain(info), indent=2, default=str) + "\n```"


def model_card(model, name: str, folder: str, dataset: str, licenses: list, metrics: dict, description: str = "") -> str:
    """The README.md text of a published model."""
    args = model.get_model_args()
    settings = ", ".join(f"{k}={args[k]}" for k in ("n_src", "n_iter", "n_fft", "hop_length", "update", "ref_mic") if k in args)
    doc = (type(model).__doc__ or "").strip().splitlines()
    return CARD.format(
        name=name, description=description or (doc[0] if doc else type(model).__name__), cls=type(model).__name__,
        n_params=sum(p.numel() for p in model.parameters()), settings=settings, dataset=dataset,
        licenses=", ".join(licenses), folder=folder, sample_rate=int(model.sample_rate),
        training=_training_text(getattr(model, "training_info", {})), metrics=_markdown_metrics(metrics),
    )


def publish_model(model, out_dir, metrics: dict, dataset: str = "unknown", licenses: Optional[list] = None,
                  train_conf: Optional[dict] = None, recipe: str = "Unknown", name: Optional[str] = None,
                  description: str = "") -> Path:
    """Write the publishable folder of ``model`` (see the module docstring) and return it."""
    from asteroid.models.publisher import save_publishable

    out_dir = Path(out_dir)
    licenses = list(licenses or [CODE_LICENSE])
    model_dict = model.serialize()
    model_dict["dataset"] = dataset
    model_dict["licenses"] = licenses
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the folder follows the user's umask
    try:
        (tmp / "recipe_name.txt").write_text(recipe + "\n", encoding="utf-8")
        save_publishable(str(tmp), plain(model_dict), metrics=plain(dict(metrics)), train_conf=plain(train_conf),
                         recipe=recipe)
        card = model_card(model, name or type(model).__name__, str(out_dir), dataset, licenses, metrics, description)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        old = out_dir.with_name(f".{out_dir.name}.old")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
