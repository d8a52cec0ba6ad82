"""Sphinx configuration for reconnect_twisted."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "reconnect_twisted"
author = "The reconnect_twisted developers"
copyright = "2026, " + author
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
nitpicky = False
suppress_warnings = ["config.cache"]
html_theme = "furo"
exclude_patterns = ["_build"]
