"""
The package root exports exactly its __all__, each with a docstring.
"""

from __future__ import annotations

import inspect

from twisted.trial.unittest import SynchronousTestCase

import reconnect_twisted


class FacadeTests(SynchronousTestCase):
    def test_allExported(self) -> None:
        """When imported, every name in __all__ exists at the root."""
        for name in reconnect_twisted.__all__:
            self.assertTrue(hasattr(reconnect_twisted, name), name)

    def test_exactlyAll(self) -> None:
        """When listing public root names, they are exactly __all__."""
        public = {
            name
            for name, value in vars(reconnect_twisted).items()
            if not name.startswith("_") and not inspect.ismodule(value)
        }
        self.assertEqual(public, set(reconnect_twisted.__all__))

    def test_docstrings(self) -> None:
        """When documented, every public class and function has a docstring."""
        for name in reconnect_twisted.__all__:
            value = getattr(reconnect_twisted, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                self.assertTrue(inspect.getdoc(value), name)
                for attr, member in vars(value).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        self.assertTrue(inspect.getdoc(member), f"{name}.{attr}")
