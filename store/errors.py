"""Typed domain errors. The Slack layer turns them into words in one place (handlers/errors.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from store.views import EscalationView


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


# --- refusals told as data ----------------------------------------------------------------------
# Some refusals name people and moments ("E-1001 was already approved by <@U…> <!date^…>"), which
# only messages/ knows how to write for Slack. Such an error carries data (a read model); the
# messages/ module of its feature registers its words with `words_for`, and str() of the error is
# those words (what handlers/errors.py shows). Without registered words, str() is a plain fallback.

_E = TypeVar("_E", bound=DomainError)
_WORDS: dict[type, Callable] = {}


def words_for(kind: type[_E]) -> Callable[[Callable[[_E], str]], Callable[[_E], str]]:
    """Decorator: how messages/ words an error of `kind` (and of its subclasses)."""

    def register(say: Callable[[_E], str]) -> Callable[[_E], str]:
        _WORDS[kind] = say
        return say

    return register


class Worded(DomainError):
    """A refusal whose words come from messages/ (words_for); its args hold the plain fallback."""

    def __str__(self) -> str:
        for kind in type(self).__mro__:
            say = _WORDS.get(kind)
            if say is not None:
                return say(self)
        return super().__str__()


class EscalationClosed(Worded, AlreadyDone):
    """A press on an escalation that is no longer pending: approved, rejected, withdrawn or expired."""

    def __init__(self, escalation: "EscalationView"):
        self.escalation = escalation
        super().__init__(f"{escalation.ref} was already {escalation.status}.")


class EscalationMoved(Worded, NotAllowed):
    """A press on a card sent for `card_level`, which the pending escalation has since left."""

    def __init__(self, escalation: "EscalationView", card_level: int):
        self.escalation, self.card_level = escalation, card_level
        super().__init__(f"That card is for {escalation.name_of(card_level)}, and {escalation.ref} has since moved "
                         f"to {escalation.level_name}. Decide on the current card.")


# --- sentences with people, moments and typed text in them, as data -------------------------------
# Most refusals are one sentence of store's own ("Only <@A> or <@B> can accept L-1001 — they own it.")
# in which only a few parts need Slack: the people (mentions), moments (a date in each reader's zone)
# and what someone typed (escaped). Store builds such a sentence as Words with those parts marked, and
# formats none of them; messages.words registers how Words are written, with the same registry
# (`words_for(Words)`), so the text is what Slack should show.

@dataclass(frozen=True)
class Person:
    """Someone named in the sentence (Slack shows a mention)."""

    user_id: str


@dataclass(frozen=True)
class Moment:
    """A moment (Slack shows it in each reader's own zone; `zone` is the one to fall back on)."""

    at: dt.datetime
    zone: ZoneInfo | None = None


@dataclass(frozen=True)
class Day:
    """A calendar day, such as a due date."""

    day: dt.date


@dataclass(frozen=True)
class Typed:
    """Text someone typed or named (a partner's name, a search): shown as typed, never as markup."""

    text: str
    bold: bool = False


Part = str | Person | Moment | Day | Typed


def plain(parts: tuple[Part, ...]) -> str:
    """The parts as plain text, where no words are registered: ids, ISO dates, text as typed."""
    shown = []
    for part in parts:
        if isinstance(part, Person):
            shown.append(f"@{part.user_id}")
        elif isinstance(part, Moment):
            shown.append(part.at.astimezone(part.zone).isoformat(timespec="minutes") if part.zone else part.at.isoformat())
        elif isinstance(part, Day):
            shown.append(part.day.isoformat())
        elif isinstance(part, Typed):
            shown.append(part.text)
        else:
            shown.append(str(part))
    return "".join(shown)


class Words(str):
    """A sentence for a person, as data and as text: `Words("Only ", Person(u), " can accept L-1001.")`.

    It is the text the registered words (`words_for(Words)`, else `plain`) make of its parts, so it
    goes wherever a message string goes (an error, a modal's inline problem), and it keeps the parts
    (`.parts`) for anyone who shows them otherwise. Words inside Words are taken apart into their parts.
    """

    parts: tuple[Part, ...]

    def __new__(cls, *parts: Part) -> "Words":
        flat: list[Part] = []
        for part in parts:
            if isinstance(part, Words):
                flat.extend(part.parts)
            elif part != "":
                flat.append(part)
        words = super().__new__(cls, _WORDS.get(Words, plain)(tuple(flat)))
        words.parts = tuple(flat)
        return words
