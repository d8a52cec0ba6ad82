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
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
intersphinx_mapping = {"python": ("https://docs.python.org/3", None)}
intersphinx_disabled_reftypes = ["*"]
# No network here: intersphinx inventories are optional.
intersphinx_timeout = 1
nitpicky = False
suppress_warnings = ["intersphinx.external", "config.cache"]
html_theme = "furo"
exclude_patterns = ["_build"]
