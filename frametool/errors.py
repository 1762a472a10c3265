"""Errors a user can act on: each names the file and says what is wrong with it."""
from __future__ import annotations

from pathlib import Path


class FrametoolError(Exception):
    """Base class of frametool's own errors."""


class UsageError(FrametoolError):
    """Bad command-line usage or configuration (exit code 2)."""


class InputError(FrametoolError):
    """One input file cannot be processed; the rest of a corpus goes on."""

    def __init__(self, path: Path | str, problem: str, stage: str = "input") -> None:
        self.path = str(path)
        self.problem = problem
        self.stage = stage
        super().__init__(f"{path}: {problem}")


class ModelError(FrametoolError):
    """A model cannot be loaded (missing files, unknown backbone)."""
