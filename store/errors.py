"""Typed domain errors. The Slack layer turns them into words in one place (bot/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Something the user asked for cannot be done; the message says why and what to do."""


class NotFound(DomainError):
    pass


class NotAllowed(DomainError):
    """The caller may not do this; the message names who can."""


class AlreadyDone(DomainError):
    """A second press: nothing changed; the message says what already happened."""


class ValidationFailed(DomainError):
    """Field-level problems, keyed by field name, shown inline in the modal."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class ImportFailed(DomainError):
    """A CSV file with bad rows; nothing from it was applied."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("\n".join(f"line {line}: {msg}" for line, msg in problems))
