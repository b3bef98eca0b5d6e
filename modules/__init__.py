"""The product: everything a synth needs. ``core`` (stack base, emulator adjustments, paths),
``config`` (settings), ``blocks`` (reusable constructs), ``architectures`` (one package per
stack), ``policy`` (resilience rules); ``app`` is the stack registry and the synth.

Importing this package installs the lazy provider import (:mod:`modules.core.lazy_provider`),
so every entry point gets it before its first provider import without asking for it.
"""

import sys as _sys

from modules.core import lazy_provider as _lazy_provider

if _lazy_provider.PACKAGE not in _sys.modules:  # imported eagerly already: correct, only slower
    _lazy_provider.install()
