"""asteroid-mvae: supervised multichannel BSS with deep generative source models for asteroid."""
from . import compat

compat.apply()

__version__ = "0.1.0"
