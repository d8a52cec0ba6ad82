"""
docs/testing.rst: its code blocks, run in order in one namespace, and the
test cases they define, run here.
"""

from __future__ import annotations

import re
import unittest
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

DOCS = Path(__file__).resolve().parent.parent / "docs"


def pythonBlocks(path: Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of an reST file, dedented."""
    blocks = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == ".. code-block:: python":
            i += 1
            body: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                body.append(lines[i])
                i += 1
            text = "\n".join(body)
            indent = min(
                len(line) - len(line.lstrip()) for line in body if line.strip()
            )
            blocks.append(re.sub(rf"(?m)^ {{{indent}}}", "", text).strip() + "\n")
        else:
            i += 1
    return blocks


class TestingPageTests(SynchronousTestCase):
    """The examples of docs/testing.rst."""

    def test_examplesPass(self) -> None:
        """
        When the code blocks of docs/testing.rst are run, the test cases they
        define all pass (and there are several).
        """
        namespace: dict[str, Any] = {"__name__": "docs_testing"}
        blocks = pythonBlocks(DOCS / "testing.rst")
        self.assertGreaterEqual(len(blocks), 4)
        for number, block in enumerate(blocks):
            exec(compile(block, f"testing.rst block {number}", "exec"), namespace)
        cases = [
            value
            for value in namespace.values()
            if isinstance(value, type)
            and issubclass(value, unittest.TestCase)
            and value.__module__ == "docs_testing"
        ]
        suite = unittest.TestSuite(
            unittest.defaultTestLoader.loadTestsFromTestCase(case) for case in cases
        )
        result = unittest.TestResult()
        suite.run(result)
        failed = result.failures + result.errors
        problems = [f"{test}: {trace}" for test, trace in failed]
        self.assertEqual(problems, [])
        self.assertGreaterEqual(result.testsRun, 8)


class TutorialPageTests(SynchronousTestCase):
    """The examples of docs/tutorial.rst."""

    def test_examplesCompile(self) -> None:
        """When the tutorial's Python blocks are compiled, none has an error."""
        blocks = pythonBlocks(DOCS / "tutorial.rst")
        self.assertTrue(blocks)
        for number, block in enumerate(blocks):
            compile(block, f"tutorial.rst block {number}", "exec")
