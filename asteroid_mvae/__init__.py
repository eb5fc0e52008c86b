"""asteroid-mvae: supervised multichannel BSS with deep generative source models for asteroid."""

from . import compat

compat.apply()

__version__ = "0.1.0"

from . import models  # noqa: E402,F401  (registers every model class of the catalogue with asteroid)
