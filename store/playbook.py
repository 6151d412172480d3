"""The playbook file: the co-selling rules as one versioned YAML document.

``load_playbook(path)`` / ``parse_playbook(text)`` validate the file with the pydantic models
below and either return a :class:`Playbook` or raise :class:`PlaybookError` listing *every*
problem, one per line, each with the file, the line number and the key path, e.g.::

    playbook.yml line 14: sla.tiers.gold.accept_within_hours: must be greater than 0 (got -2)
    playbook.yml line 3: buisness_hours: unknown key (did you mean business_hours?)

Line numbers come from the YAML node tree: each pydantic error ``loc`` is walked down the
composed nodes and reported at the deepest node that exists (so a missing key is reported
at the mapping that should contain it).

Adding a section later (escalation ladders, reviews, digests, stages...) means writing a
``_Section`` subclass and adding a field to :class:`Playbook`; unknown-key detection,
"did you mean" suggestions and line numbers then work for it with no further code. Raise
``_problem("...")`` from validators for messages that read well in the error list.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from typing import Annotated, Any, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .business_hours import BusinessCalendar

__all__ = [
    "DEFAULT_PARTNER_TYPES",
    "DEFAULT_TIERS",
    "WEEKDAYS",
    "BusinessHours",
    "Conflicts",
    "Escalation",
    "EscalationLevel",
    "PARTNER_EDITORS",
    "Partners",
    "Playbook",
    "PlaybookError",
    "PlaybookProblem",
    "Sla",
    "SlaPolicy",
    "TierSla",
    "default_playbook",
    "load_playbook",
    "parse_playbook",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_PARTNER_TYPES: tuple[str, ...] = ("reseller", "referral", "si", "isv", "msp", "technology")
DEFAULT_TIERS: tuple[str, ...] = ("registered", "silver", "gold", "platinum")


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class PlaybookProblem:
    """One problem in a playbook file. ``line`` is 1-based, or None when unknown."""

    line: int | None
    path: str
    message: str

    def format(self, source: str) -> str:
        where = f"{source} line {self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlaybookError(Exception):
    """The playbook file is unusable; ``str()`` lists every problem, one per line."""

    def __init__(self, errors: list[PlaybookProblem], source: str = "<playbook>") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("\n".join(problem.format(source) for problem in self.errors))


def _problem(message: str) -> PydanticCustomError:
    """A validation error whose message is shown to the user as is."""
    return PydanticCustomError("playbook", "{message}", {"message": message})


def _show(value: Any) -> str:
    """A value as the user wrote it, for "(got ...)" in messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# --------------------------------------------------------------------------- field types


def _not_bool(value: Any) -> Any:
    # pydantic would quietly read `true` as 1; in a rules file that is always a mistake.
    if isinstance(value, bool):
        raise _problem(f"must be a number (got {_show(value)})")
    return value


Hours = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, allow_inf_nan=False)]
Days = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise _problem("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_text)]

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise _problem(
            "must be a short lowercase name made of letters, digits, - or _, e.g. gold "
            f"(got {_show(value)})"
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]

_USER_ID = re.compile(r"[UW][A-Z0-9]{6,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{6,}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")


def _user_id(value: str) -> str:
    if not _USER_ID.fullmatch(value):
        raise _problem(
            "must be a Slack user id: U or W followed by capital letters and digits, "
            "e.g. U012AB3CD (in Slack: open the profile, then ⋮ > Copy member ID) "
            f"(got {_show(value)})"
        )
    return value


def _approver_id(value: str) -> str:
    if not (_USER_ID.fullmatch(value) or _GROUP_ID.fullmatch(value)):
        raise _problem(
            "must be a Slack user id (U… or W…, e.g. U012AB3CD) or user group id "
            f"(S…, e.g. S012AB3CD) (got {_show(value)})"
        )
    return value


def _channel_id(value: str) -> str:
    if not _CHANNEL_ID.fullmatch(value):
        raise _problem(
            "must be a Slack channel id: C or G followed by capital letters and digits, "
            "e.g. C012AB3CD (in Slack: channel details, at the bottom) "
            f"(got {_show(value)})"
        )
    return value


UserId = Annotated[str, AfterValidator(_user_id)]
ApproverId = Annotated[str, AfterValidator(_approver_id)]
ChannelId = Annotated[str, AfterValidator(_channel_id)]

_DAY_NAMES = {name: name for name in WEEKDAYS} | {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


def _weekday(value: Any) -> str:
    day = _DAY_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
    if day is None:
        raise _problem(f"must be a day of the week: {', '.join(WEEKDAYS)} (got {_show(value)})")
    return day


Weekday = Annotated[str, BeforeValidator(_weekday)]

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _clock_time(value: Any) -> Any:
    if isinstance(value, time):
        return value
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    raise _problem(f'must be a time of day written HH:MM, e.g. "09:00" (got {_show(value)})')


ClockTime = Annotated[time, BeforeValidator(_clock_time)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _holiday(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _problem(f"is not a real date (got {_show(value)})") from None
    raise _problem(f"must be a date written YYYY-MM-DD, e.g. 2025-12-25 (got {_show(value)})")


Holiday = Annotated[date, BeforeValidator(_holiday)]


def _not_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    # Checked after the items (unlike Field(min_length=...), which pydantic also reports,
    # misleadingly, when the list has entries that are merely invalid).
    if not values:
        raise _problem("must list at least one entry")
    return values


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise _problem(f"lists {_show(value)} more than once")
        seen.add(value)
    return values


def _known_tier(value: str, info: ValidationInfo) -> str:
    # The parser puts the file's tier list in the validation context (see Playbook).
    tiers = (info.context or {}).get("tiers")
    if tiers is not None and value not in tiers:
        raise _problem(
            f"unknown tier {_show(value)}{_suggest(value, tiers)}; "
            f"the tiers listed under `tiers` are: {', '.join(tiers)}"
        )
    return value


TierName = Annotated[str, AfterValidator(_known_tier)]


def _suggest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


# --------------------------------------------------------------------------- models


class _Section(BaseModel):
    """Base of every mapping in the file: unknown keys are errors, values are immutable.

    A key written with no value (``holidays:`` followed only by comments) means "use the
    default", as if it were not there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class BusinessHours(_Section):
    """When the clocks run: weekdays, opening and closing time, and holidays."""

    days: tuple[Weekday, ...] = WEEKDAYS[:5]
    start: ClockTime = time(9, 0)
    end: ClockTime = time(17, 0)
    holidays: tuple[Holiday, ...] = ()

    @field_validator("days")
    @classmethod
    def _at_least_one_day(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        if not days:
            raise _problem(f"must list at least one business day ({', '.join(WEEKDAYS)})")
        return tuple(sorted(set(days), key=WEEKDAYS.index))

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("start")  # absent if start itself was invalid
        if start is not None and not end > start:
            raise _problem(f"must be after start ({start:%H:%M}) (got {end:%H:%M})")
        return end

    @field_validator("holidays")
    @classmethod
    def _sorted_holidays(cls, holidays: tuple[date, ...]) -> tuple[date, ...]:
        return tuple(sorted(set(holidays)))

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """The business days as ``date.weekday()`` numbers (0 = Monday)."""
        return frozenset(WEEKDAYS.index(day) for day in self.days)


class Sla(_Section):
    """How fast a lead must be handled, in business hours from the handoff."""

    accept_within_hours: Hours = 8.0
    first_outreach_within_hours: Hours = 16.0


class TierSla(_Section):
    """A tier's overrides of the default SLA; a key left out falls back to the default."""

    accept_within_hours: Hours | None = None
    first_outreach_within_hours: Hours | None = None


class SlaPolicy(_Section):
    default: Sla = Field(default_factory=Sla)
    tiers: dict[TierName, TierSla] = Field(default_factory=dict)
    # After a missed accept deadline, how long (business hours) before the lead passes to the
    # backup owner. None: one more accept period of the partner's tier.
    backup_grace_hours: Hours | None = None


def _cadence(value: Any) -> str:
    if value not in ("month", "quarter"):
        raise _problem(f"must be month or quarter (got {_show(value)})")
    return value


class ReviewCadence(_Section):
    """A recurring review with each partner, announced in the partner's channel with an agenda."""

    key: Slug
    name: Text
    every: Annotated[str, BeforeValidator(_cadence)] = "month"
    days_ahead: Days = 3  # business days before the review's day that the reminder is posted
    day: Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=28)] = 10  # day of the month (first month of the quarter for quarterly)


class Reviews(_Section):
    cadences: tuple[ReviewCadence, ...] = (
        ReviewCadence(key="ops", name="Monthly operations review", every="month", day=10),
        ReviewCadence(key="qbr", name="Quarterly business review", every="quarter", day=15),
    )

    @field_validator("cadences")
    @classmethod
    def _unique_keys(cls, cadences: tuple[ReviewCadence, ...]) -> tuple[ReviewCadence, ...]:
        _unique(tuple(c.key for c in cadences))
        return cadences


class Digest(_Section):
    """The monthly digest: posted on the first business day of the month at `time`, playbook zone."""

    channels: tuple[ChannelId, ...] = ()
    time: ClockTime = time(9, 0)


class Conflicts(_Section):
    protection_window_days: Days = 90


# Who may add partners from Slack and change them: the admins and anyone who manages a partner
# (a partner's own manager, for changing it), the admins only, or everyone in the workspace.
PARTNER_EDITORS: tuple[str, ...] = ("admins_and_managers", "admins", "everyone")


def _partner_editors(value: Any) -> str:
    if value not in PARTNER_EDITORS:
        raise _problem(f"must be one of {', '.join(PARTNER_EDITORS)}{_suggest(str(value), PARTNER_EDITORS)} "
                       f"(got {_show(value)})")
    return value


class Partners(_Section):
    """Who may add partners from Slack (`/partner add`) and change them (store/permissions.py)."""

    editors: Annotated[str, BeforeValidator(_partner_editors)] = "admins_and_managers"


Percent = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, le=100, allow_inf_nan=False)]
Amount = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, allow_inf_nan=False)]
Weight = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, allow_inf_nan=False)]

# The scorecard figures that can have a target and a weight, and whether less is better.
SCORED_FIGURES: dict[str, bool] = {
    "leads_handed_off": False, "acceptance_rate": False, "hours_to_accept": True, "sla_hit_rate": False,
    "conversion_rate": False, "wins": False, "revenue": False, "average_deal_size": False,
}


class Targets(_Section):
    """What a partner should reach, per month for counts and amounts; rates in percent (0–100).
    A figure left out has no target and does not count towards the composite score."""

    leads_handed_off: Amount | None = None  # leads handed off either way, per month
    acceptance_rate: Percent | None = None
    hours_to_accept: Hours | None = None  # median business hours; default: the tier's accept SLA
    sla_hit_rate: Percent | None = None  # first outreach on time
    conversion_rate: Percent | None = None  # of the leads closed, the share won
    wins: Amount | None = None  # per month
    revenue: Amount | None = None  # won, per month
    average_deal_size: Amount | None = None


def _weights(weights: dict[str, float]) -> dict[str, float]:
    unknown = [key for key in weights if key not in SCORED_FIGURES]
    if unknown:
        raise _problem(f"unknown figure {_show(unknown[0])}{_suggest(unknown[0], SCORED_FIGURES)}; "
                       f"weights can be given to: {', '.join(SCORED_FIGURES)}")
    if weights and not any(weights.values()):
        raise _problem("at least one weight must be above 0")
    return weights


class ScorecardTargets(_Section):
    default: Targets = Field(default_factory=lambda: Targets(acceptance_rate=80, sla_hit_rate=90,
                                                             conversion_rate=25))
    tiers: dict[TierName, Targets] = Field(default_factory=dict)


class Scorecards(_Section):
    """How partners are scored: targets per tier (maturity), the weights of the composite score,
    and what counts as a trend."""

    targets: ScorecardTargets = Field(default_factory=ScorecardTargets)
    weights: Annotated[dict[str, Weight], AfterValidator(_weights)] = Field(default_factory=lambda: {
        "acceptance_rate": 20, "hours_to_accept": 15, "sla_hit_rate": 25, "conversion_rate": 20, "revenue": 20})
    trend_points: Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=100)] = 5.0
    new_partner_days: Days = 365  # partners added this recently show their time to first sale


ROLES: tuple[str, ...] = ("sender", "owner", "backup", "partner_manager", "admins")
CORE_STAGES: tuple[str, ...] = ("handed_off", "accepted", "closed_won", "closed_lost")


def _role(value: Any) -> str:
    if value not in ROLES:
        raise _problem(f"must be one of {', '.join(ROLES)}{_suggest(str(value), ROLES)} (got {_show(value)})")
    return value


Role = Annotated[str, BeforeValidator(_role)]


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _problem(f"must be true or false (got {_show(value)})")
    return value


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]


class ChecklistItem(_Section):
    """Something to have done before a lead enters a stage; `required` ones block the move."""

    item: Text
    required: StrictBool = False


class Stage(_Section):
    """A stage of a deal, with its RACI and the checklist to enter it."""

    key: Slug
    name: Text
    responsible: Role = "owner"  # who leads the stage (shown on the lead card)
    accountable: Role = "partner_manager"
    consulted: tuple[Role, ...] = ()
    informed: tuple[Role, ...] = ("sender",)
    checklist: tuple[ChecklistItem, ...] = ()


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage(key="handed_off", name="Handed off", responsible="sender"),
    Stage(key="accepted", name="Accepted"),
    Stage(key="contacted", name="Contacted"),
    Stage(key="qualified", name="Qualified", consulted=("sender",)),
    Stage(key="proposal", name="Proposal", consulted=("sender",), checklist=(
        ChecklistItem(item="Technical validation done", required=True),
        ChecklistItem(item="Pricing approved", required=True),
    )),
    Stage(key="negotiation", name="Negotiation", consulted=("sender", "partner_manager"), checklist=(
        ChecklistItem(item="Contract routed", required=True),
        ChecklistItem(item="Approvals in", required=True),
        ChecklistItem(item="Risk disclosures sent"),
    )),
    Stage(key="closed_won", name="Closed won", informed=("sender", "partner_manager")),
    Stage(key="closed_lost", name="Closed lost", informed=("sender", "partner_manager")),
)


class QualificationQuestion(_Section):
    """A question asked when a lead becomes qualified; each answer scores 0–1 of its weight."""

    key: Slug
    question: Text
    weight: Hours = 1.0  # any positive number
    answers: dict[str, Annotated[float, BeforeValidator(_not_bool), Field(ge=0, le=1)]]

    @field_validator("answers")
    @classmethod
    def _two_to_ten_answers(cls, answers: dict[str, float]) -> dict[str, float]:
        if not 2 <= len(answers) <= 10:
            raise _problem(f"must offer between 2 and 10 answers (got {len(answers)})")
        if any(not label.strip() or len(label) > 75 for label in answers):
            raise _problem("answer labels must be 1 to 75 characters")
        return answers


DEFAULT_QUESTIONS: tuple[QualificationQuestion, ...] = (
    QualificationQuestion(key="budget", question="Is there budget for this?", weight=3,
                          answers={"Yes, approved": 1.0, "Being approved": 0.5, "No": 0.0}),
    QualificationQuestion(key="authority", question="Are we talking to the decision maker?", weight=2,
                          answers={"Yes": 1.0, "An influencer": 0.5, "No": 0.0}),
    QualificationQuestion(key="need", question="How pressing is the problem?", weight=3,
                          answers={"Critical": 1.0, "Important": 0.6, "Nice to have": 0.2}),
    QualificationQuestion(key="timeline", question="When do they want to decide?", weight=2,
                          answers={"This quarter": 1.0, "Next quarter": 0.6, "Later or unknown": 0.1}),
)


class Qualification(_Section):
    questions: Annotated[tuple[QualificationQuestion, ...], AfterValidator(_not_empty)] = DEFAULT_QUESTIONS

    @field_validator("questions")
    @classmethod
    def _unique_keys(cls, questions: tuple[QualificationQuestion, ...]) -> tuple[QualificationQuestion, ...]:
        _unique(tuple(q.key for q in questions))
        return questions


class RequestKind(_Section):
    """A kind of escalation request and the predefined responses a decider can pick."""

    key: Slug
    name: Text
    responses: tuple[Text, ...] = ()


class EscalationLevel(_Section):
    name: Text
    approvers: tuple[ApproverId, ...] = ()
    time_limit_hours: Hours = 24.0


DEFAULT_REQUESTS: tuple[RequestKind, ...] = (
    RequestKind(key="discount", name="Discount", responses=("Approved as asked", "Approved up to 10%", "Approved with a shorter term")),
    RequestKind(key="exception", name="Exception to the rules", responses=("Approved once", "Approved for this partner")),
    RequestKind(key="conflict_ruling", name="Conflict ruling", responses=("First registration keeps the deal", "Split the deal", "Partner with the stronger relationship keeps it")),
    RequestKind(key="sla_breach", name="SLA breach", responses=("Reassign to the backup owner", "Extend the deadline one business day")),
    RequestKind(key="other", name="Other"),
)


class Escalation(_Section):
    channel: ChannelId | None = None
    requests: Annotated[tuple[RequestKind, ...], AfterValidator(_not_empty)] = DEFAULT_REQUESTS
    levels: Annotated[tuple[EscalationLevel, ...], AfterValidator(_not_empty)] = (
        EscalationLevel(name="Partner manager"),
    )

    @field_validator("levels")
    @classmethod
    def _unique_level_names(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        _unique(tuple(level.name for level in levels))
        return levels


class Playbook(_Section):
    """The whole playbook. Every key is optional; ``Playbook()`` is the default playbook."""

    timezone: str = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    partner_types: Annotated[tuple[Slug, ...], AfterValidator(_not_empty), AfterValidator(_unique)] = (
        DEFAULT_PARTNER_TYPES
    )
    tiers: Annotated[tuple[Slug, ...], AfterValidator(_not_empty), AfterValidator(_unique)] = (
        DEFAULT_TIERS
    )
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    conflicts: Conflicts = Field(default_factory=Conflicts)
    product_lines: Annotated[tuple[Text, ...], AfterValidator(_unique)] = ()
    admins: Annotated[tuple[UserId, ...], AfterValidator(_unique)] = ()
    partners: Partners = Field(default_factory=Partners)
    escalation: Escalation = Field(default_factory=Escalation)
    stages: Annotated[tuple[Stage, ...], AfterValidator(_not_empty)] = DEFAULT_STAGES
    qualification: Qualification = Field(default_factory=Qualification)
    reviews: Reviews = Field(default_factory=Reviews)
    digest: Digest = Field(default_factory=Digest)
    scorecards: Scorecards = Field(default_factory=Scorecards)

    @field_validator("stages")
    @classmethod
    def _core_stages(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        keys = tuple(stage.key for stage in stages)
        _unique(keys)
        missing = [key for key in CORE_STAGES if key not in keys]
        if missing:
            raise _problem(f"must include the stages {', '.join(missing)} (the bot's own steps use them)")
        if keys[0] != "handed_off" or keys[1] != "accepted":
            raise _problem("must start with handed_off, then accepted")
        if set(keys[-2:]) != {"closed_won", "closed_lost"}:
            raise _problem("must end with closed_won and closed_lost")
        return stages

    @model_validator(mode="before")
    @classmethod
    def _share_tiers(cls, data: Any, info: ValidationInfo) -> Any:
        # Lets sla.tiers report an unknown tier at its own key, next to the other errors.
        if isinstance(info.context, dict) and isinstance(data, dict):
            tiers = data.get("tiers")
            if tiers is None:
                info.context["tiers"] = DEFAULT_TIERS
            elif isinstance(tiers, list) and all(isinstance(tier, str) for tier in tiers):
                info.context["tiers"] = tuple(tiers)
        return data

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            names = available_timezones()
            same = [known for known in names if known.lower() == name.lower()]
            hint = f" (did you mean {same[0]}?)" if same else _suggest(name, names)
            raise _problem(
                "must be an IANA time zone name such as America/New_York or Europe/Berlin "
                f"(got {_show(name)}){hint}"
            ) from None
        return name

    @model_validator(mode="after")
    def _sla_tiers_are_tiers(self) -> Playbook:
        # Backstop for models built without the parser's context.
        unknown = [tier for tier in self.sla.tiers if tier not in self.tiers]
        if unknown:
            raise _problem(
                f"sla.tiers names tiers not listed under `tiers`: {', '.join(unknown)}"
            )
        return self

    # ------------------------------------------------------------------ helpers

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        hours = self.business_hours
        return BusinessCalendar(
            tz=self.tz,
            days=hours.weekday_numbers,
            start=hours.start,
            end=hours.end,
            holidays=frozenset(hours.holidays),
        )

    def sla_for(self, tier: str | None) -> Sla:
        """The SLA for a partner tier: its overrides, else the default (also for None or
        a tier the playbook does not know)."""
        default = self.sla.default
        override = self.sla.tiers.get(tier) if tier is not None else None
        if override is None:
            return default
        return Sla(
            accept_within_hours=(
                override.accept_within_hours
                if override.accept_within_hours is not None
                else default.accept_within_hours
            ),
            first_outreach_within_hours=(
                override.first_outreach_within_hours
                if override.first_outreach_within_hours is not None
                else default.first_outreach_within_hours
            ),
        )

    def stage(self, key: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.key == key), None)

    def request_kind(self, key: str) -> RequestKind | None:
        return next((kind for kind in self.escalation.requests if kind.key == key), None)

    def qualification_score(self, answers: dict[str, str]) -> float:
        """The weighted score, 0–100, of answers {question key: answer label}; unknown answers score 0."""
        questions = self.qualification.questions
        total = sum(q.weight for q in questions)
        got = sum(q.weight * q.answers.get(answers.get(q.key, ""), 0.0) for q in questions)
        return round(100.0 * got / total, 2) if total else 0.0

    def backup_grace_for(self, tier: str | None) -> float:
        """Business hours after the accept deadline before a lead passes to its backup owner."""
        grace = self.sla.backup_grace_hours
        return grace if grace is not None else self.sla_for(tier).accept_within_hours

    def targets_for(self, tier: str | None) -> dict[str, float]:
        """A tier's targets: its own, else the default's, figure by figure; the time to accept
        defaults to the tier's accept SLA."""
        default = self.scorecards.targets.default.model_dump(exclude_none=True)
        own = self.scorecards.targets.tiers.get(tier) if tier is not None else None
        merged = default | (own.model_dump(exclude_none=True) if own else {})
        merged.setdefault("hours_to_accept", self.sla_for(tier).accept_within_hours)
        return merged

    def is_admin(self, user_id: str | None) -> bool:
        """Whether this Slack user id is listed under ``admins``."""
        return user_id is not None and user_id in self.admins


def default_playbook() -> Playbook:
    """The playbook that runs when there is no file."""
    return Playbook()


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's base-60 numbers, so `end: 17:00` stays "17:00"
    instead of becoming the integer 1020."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        tag = super().resolve(kind, value, implicit)
        if (
            kind is ScalarNode
            and implicit[0]
            and tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
            and ":" in value
        ):
            return "tag:yaml.org,2002:str"
        return tag

    def _timestamp_or_text(self, node: ScalarNode) -> Any:
        # `2025-13-01` looks like a date but is not one: keep the text so the field
        # validator can say so with a line number, instead of crashing the loader.
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader._timestamp_or_text)


def load_playbook(path: str | os.PathLike[str]) -> Playbook:
    """Read and validate a playbook file; raise PlaybookError naming every problem."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PlaybookError([PlaybookProblem(None, "", f"cannot read the file: {reason}")], source) from None
    except UnicodeDecodeError as exc:
        raise PlaybookError(
            [PlaybookProblem(None, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})")], source
        ) from None
    return parse_playbook(text, source)


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Validate playbook YAML text; ``source`` names it in error messages."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise PlaybookError([_yaml_problem(exc)], source) from None
    except yaml.YAMLError as exc:
        raise PlaybookError([PlaybookProblem(None, "", f"not valid YAML: {exc}")], source) from None
    finally:
        loader.dispose()

    problems = _duplicate_keys(root, ()) if root is not None else []
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate({} if data is None else data, context={})
    except ValidationError as exc:
        problems += [_pydantic_problem(error, root) for error in exc.errors(include_url=False)]
    if problems or playbook is None:
        problems.sort(key=lambda problem: (problem.line or 0, problem.path))
        raise PlaybookError(problems, source)
    return playbook


def _yaml_problem(exc: yaml.MarkedYAMLError) -> PlaybookProblem:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "syntax error"
    if message.startswith("but found another document"):
        message = "a second document starts here (a playbook file holds exactly one)"
    elif exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
    if mark is None:
        return PlaybookProblem(None, "", f"not valid YAML: {message}")
    return PlaybookProblem(mark.line + 1, "", f"not valid YAML at column {mark.column + 1}: {message}")


def _format_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _locate(root: Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node along ``loc``; a mapping entry is reported at its key."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line
    for part in loc:
        if isinstance(node, MappingNode) and part != "[key]":
            entries = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(part)]
            if not entries:
                break
            key, node = entries[-1]  # PyYAML keeps the last of duplicated keys
            line = key.start_mark.line
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _duplicate_keys(node: Node, path: tuple[Any, ...], seen: set[int] | None = None) -> list[PlaybookProblem]:
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias shares nodes; look at each once
        return []
    seen.add(id(node))
    problems: list[PlaybookProblem] = []
    if isinstance(node, MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first_line:
                    problems.append(
                        PlaybookProblem(
                            line,
                            _format_path(path + (key.value,)),
                            f"duplicate key (already set on line {first_line[key.value]})",
                        )
                    )
                else:
                    first_line[key.value] = line
                problems += _duplicate_keys(value, path + (key.value,), seen)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, path + (index,), seen)
    return problems


_MESSAGES = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
    "too_short": "must list at least {min_length} item",
    "string_too_short": "must not be empty",
    "date_type": "must be a date written YYYY-MM-DD",
    "time_type": 'must be a time of day written HH:MM, e.g. "09:00"',
}


def _pydantic_problem(error: Any, root: Node | None) -> PlaybookProblem:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "playbook":
        message = ctx["message"]
    elif kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "unknown key" + _unknown_key_hint(loc)
    elif kind in _MESSAGES:
        shown = {name: _show(value) for name, value in ctx.items()}
        message = _MESSAGES[kind].format(**shown)
        if kind != "too_short":
            message += f" (got {_show(error.get('input'))})"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
    path = _format_path(loc)
    if not path:
        path = "(whole file)"
    return PlaybookProblem(_locate(root, loc), path, message)


def _unknown_key_hint(loc: tuple[Any, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    allowed = list(model.model_fields)
    hint = _suggest(str(loc[-1]), allowed)
    return hint or f" (expected one of: {', '.join(allowed)})"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping found at ``loc``."""
    current: Any = Playbook
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (tuple, list) and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] to the type that does the work."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation
