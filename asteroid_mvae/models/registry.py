"""Build a separator from a short name or a saved model path."""
import os

#: name -> (module, class); extended as models are added.
MODEL_NAMES = {
    "auxiva": ("asteroid_mvae.models.iva", "AuxIVA"),
    "ilrma": ("asteroid_mvae.models.iva", "ILRMA"),
    "mvae": ("asteroid_mvae.models.mvae", "MVAE"),
    "fastmvae": ("asteroid_mvae.models.mvae", "FastMVAE"),
    "fastmvae2": ("asteroid_mvae.models.mvae", "FastMVAE2"),
}


def load_model(name_or_path: str, **overrides):
    """A model by name (``"auxiva"``, ``"ilrma"``, ...) with ``overrides`` as constructor
    arguments, or a saved model (``serialize()`` file or publish directory) whose separation
    arguments ``overrides`` replace."""
    import importlib

    from asteroid.models.base_models import BaseModel

    key = name_or_path.lower()
    if key in MODEL_NAMES:
        module, cls = MODEL_NAMES[key]
        return getattr(importlib.import_module(module), cls)(**overrides)
    path = name_or_path
    if os.path.isdir(path):
        path = os.path.join(path, "model.pth")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a model name ({', '.join(sorted(MODEL_NAMES))}) nor an existing model file."
        )
    import asteroid_mvae.models  # noqa: F401  (registers our classes with asteroid)

    return BaseModel.from_pretrained(path, **overrides)
