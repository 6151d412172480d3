"""The playbook file: loading, defaults and error messages with line numbers.

Each YAML snippet is written inline; the expected line numbers are counted by hand.
"""

from datetime import date, datetime, time, timezone
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from store.business_hours import BusinessCalendar
from store.playbook import (
    Playbook,
    PlaybookError,
    PlaybookProblem,
    Sla,
    default_playbook,
    load_playbook,
    parse_playbook,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "playbook.example.yml"
UTC = timezone.utc


def errors_of(text: str) -> PlaybookError:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(dedent(text), "playbook.yml")
    return info.value


def lines_of(text: str) -> list[str]:
    return str(errors_of(text)).splitlines()


# --------------------------------------------------------------------------- good files


def test_example_file_loads_and_values_come_through():
    playbook = load_playbook(EXAMPLE)
    assert playbook.timezone == "America/New_York"
    assert playbook.business_hours.start == time(8, 30)
    assert playbook.business_hours.end == time(17, 30)
    assert date(2025, 12, 25) in playbook.business_hours.holidays
    assert playbook.tiers == ("registered", "silver", "gold", "platinum")
    assert playbook.sla_for("gold") == Sla(accept_within_hours=4, first_outreach_within_hours=8)
    # platinum overrides only the accept clock; first outreach falls back to default (16)
    assert playbook.sla_for("platinum") == Sla(accept_within_hours=2, first_outreach_within_hours=16)
    assert playbook.sla_for("silver") == Sla(accept_within_hours=8, first_outreach_within_hours=16)
    assert playbook.conflicts.protection_window_days == 90
    assert "Fraud Shield" in playbook.product_lines
    assert playbook.is_admin("U04ALICE01")
    assert not playbook.is_admin("U09NOBODY9")
    assert playbook.escalation.channel == "C05PARTNER1"
    assert [level.name for level in playbook.escalation.levels] == [
        "Partner manager",
        "Director of partnerships",
    ]
    assert playbook.escalation.levels[0].approvers == ("S05PARTMGRS",)
    assert playbook.escalation.levels[1].time_limit_hours == 16


def test_example_file_calendar_skips_thanksgiving():
    calendar = load_playbook(EXAMPLE).calendar
    # Gold lead handed off Wed 26 Nov 2025 16:30 EST, accept within 4h (08:30-17:30 desk):
    # 1h on Wednesday, Thu 27 is Thanksgiving, 3h left -> Fri 28 Nov 11:30 EST = 16:30 UTC
    start = datetime(2025, 11, 26, 16, 30, tzinfo=ZoneInfo("America/New_York"))
    assert calendar.add_business_hours(start, 4) == datetime(2025, 11, 28, 16, 30, tzinfo=UTC)


def test_example_file_documents_every_key():
    text = EXAMPLE.read_text()
    for key in Playbook.model_fields:
        assert f"\n{key}:" in text, key
    for key in (
        "days", "start", "end", "holidays", "default", "accept_within_hours",
        "first_outreach_within_hours", "protection_window_days", "channel", "levels",
        "name", "approvers", "time_limit_hours",
    ):
        assert f"{key}:" in text, key


def test_default_playbook():
    playbook = default_playbook()
    assert playbook.timezone == "UTC"
    assert playbook.business_hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert (playbook.business_hours.start, playbook.business_hours.end) == (time(9), time(17))
    assert playbook.business_hours.holidays == ()
    assert playbook.partner_types == ("reseller", "referral", "si", "isv", "msp", "technology")
    assert playbook.tiers == ("registered", "silver", "gold", "platinum")
    assert playbook.sla_for(None) == Sla(accept_within_hours=8, first_outreach_within_hours=16)
    assert playbook.sla_for("gold") == Sla(accept_within_hours=8, first_outreach_within_hours=16)
    assert playbook.conflicts.protection_window_days == 90
    assert playbook.product_lines == ()
    assert playbook.admins == ()
    assert not playbook.is_admin("U012AB3CD")
    assert playbook.escalation.channel is None
    [level] = playbook.escalation.levels
    assert (level.name, level.approvers, level.time_limit_hours) == ("Partner manager", (), 24)


def test_default_calendar():
    calendar = default_playbook().calendar
    assert isinstance(calendar, BusinessCalendar)
    assert calendar.tz == ZoneInfo("UTC")
    assert calendar.days == frozenset({0, 1, 2, 3, 4})
    assert (calendar.start, calendar.end) == (time(9), time(17))
    # Fri 6 June 2025 16:00 + 8h -> Mon 9 June 16:00
    start = datetime(2025, 6, 6, 16, tzinfo=UTC)
    assert calendar.add_business_hours(start, 8) == datetime(2025, 6, 9, 16, tzinfo=UTC)


def test_empty_file_is_the_default_playbook():
    assert parse_playbook("") == default_playbook()
    assert parse_playbook("# nothing but a comment\n") == default_playbook()


def test_key_without_value_means_default():
    playbook = parse_playbook("business_hours:\n  holidays:\nadmins:\n")
    assert playbook.business_hours.holidays == ()
    assert playbook.admins == ()


def test_unquoted_clock_times_are_read_as_times():
    # YAML 1.1 would read 17:30 as the base-60 number 1050
    playbook = parse_playbook("business_hours:\n  start: 08:00\n  end: 17:30\n")
    assert (playbook.business_hours.start, playbook.business_hours.end) == (time(8), time(17, 30))


def test_day_names_and_holidays_are_normalised():
    playbook = parse_playbook(
        "business_hours:\n  days: [Friday, mon, tue, mon]\n  holidays: ['2025-12-25', 2025-01-01]\n"
    )
    assert playbook.business_hours.days == ("mon", "tue", "fri")
    assert playbook.business_hours.holidays == (date(2025, 1, 1), date(2025, 12, 25))
    assert playbook.calendar.days == frozenset({0, 1, 4})


def test_sla_tier_with_custom_tiers():
    playbook = parse_playbook(
        dedent(
            """\
            tiers: [bronze, elite]
            sla:
              tiers:
                elite: {first_outreach_within_hours: 4.5}
            """
        )
    )
    assert playbook.sla_for("elite") == Sla(accept_within_hours=8, first_outreach_within_hours=4.5)
    assert playbook.sla_for("bronze") == playbook.sla.default
    assert playbook.sla_for("unknown") == playbook.sla.default


def test_calendar_follows_timezone():
    playbook = parse_playbook("timezone: Europe/Berlin\n")
    assert playbook.calendar.tz == ZoneInfo("Europe/Berlin")


# --------------------------------------------------------------------------- errors with lines


def test_value_error_names_line_and_path():
    text = """\
        timezone: UTC
        sla:
          tiers:
            gold:
              accept_within_hours: -2
        """
    assert lines_of(text) == [
        "playbook.yml line 5: sla.tiers.gold.accept_within_hours: must be greater than 0 (got -2)"
    ]


def test_unknown_key_with_suggestion():
    text = """\
        timezone: UTC
        # a comment line still counts
        buisness_hours:
          start: "09:00"
        """
    assert lines_of(text) == [
        "playbook.yml line 3: buisness_hours: unknown key (did you mean business_hours?)"
    ]


def test_unknown_nested_key_with_suggestion():
    text = """\
        sla:
          default:
            accept_within_hours: 4
            first_outrech_within_hours: 8
        """
    assert lines_of(text) == [
        "playbook.yml line 4: sla.default.first_outrech_within_hours: unknown key "
        "(did you mean first_outreach_within_hours?)"
    ]


def test_unknown_key_without_close_match_lists_allowed_keys():
    [line] = lines_of("conflicts:\n  zebra: 1\n")
    assert line == "playbook.yml line 2: conflicts.zebra: unknown key (expected one of: protection_window_days)"


def test_bad_timezone():
    text = """\
        # partner desk
        timezone: America/New_Yrok
        """
    [line] = lines_of(text)
    assert line.startswith("playbook.yml line 2: timezone: must be an IANA time zone name")
    assert "(got 'America/New_Yrok')" in line
    assert "did you mean America/New_York?" in line


def test_bad_tier_in_sla_tiers():
    text = """\
        tiers: [registered, silver, gold]
        sla:
          default:
            accept_within_hours: 8
          tiers:
            gold: {accept_within_hours: 4}
            platinum: {accept_within_hours: 2}
        """
    [line] = lines_of(text)
    assert line.startswith("playbook.yml line 7: sla.tiers.platinum: unknown tier 'platinum'")
    assert "registered, silver, gold" in line


def test_bad_tier_is_checked_against_default_tiers():
    [line] = lines_of("sla:\n  tiers:\n    gld: {accept_within_hours: 2}\n")
    assert line.startswith("playbook.yml line 3: sla.tiers.gld: unknown tier 'gld' (did you mean gold?)")


def test_bad_user_id():
    text = """\
        admins:
          - U012AB3CD
          - "@alice"
        """
    [line] = lines_of(text)
    assert line.startswith("playbook.yml line 3: admins[1]: must be a Slack user id")
    assert line.endswith("(got '@alice')")


def test_bad_approver_and_channel():
    text = """\
        escalation:
          channel: "#partners"
          levels:
            - name: Manager
              approvers: [S012AB3CD, U012AB3CD, bob]
        """
    assert [problem.line for problem in errors_of(text).errors] == [2, 5]
    assert [problem.path for problem in errors_of(text).errors] == [
        "escalation.channel",
        "escalation.levels[0].approvers[2]",
    ]


def test_missing_required_key_is_reported_at_its_parent():
    text = """\
        escalation:
          levels:
            - name: Manager
            - approvers: [U012AB3CD]
              time_limit_hours: 8
        """
    assert lines_of(text) == ["playbook.yml line 4: escalation.levels[1].name: is required"]


def test_no_business_days_is_refused():
    text = """\
        business_hours:
          days: []
        """
    [line] = lines_of(text)
    assert line.startswith("playbook.yml line 2: business_hours.days: must list at least one business day")


def test_end_must_be_after_start():
    text = """\
        business_hours:
          start: "18:00"
          end: "09:00"
        """
    assert lines_of(text) == [
        "playbook.yml line 3: business_hours.end: must be after start (18:00) (got 09:00)"
    ]


def test_bad_day_time_and_holiday():
    text = """\
        business_hours:
          days: [mon, funday]
          start: 9am
          holidays:
            - 2025-12-25
            - 2025-13-01
        """
    problems = errors_of(text).errors
    assert [(p.line, p.path) for p in problems] == [
        (2, "business_hours.days[1]"),
        (3, "business_hours.start"),
        (6, "business_hours.holidays[1]"),
    ]
    assert problems[2].message == "is not a real date (got '2025-13-01')"


def test_wrong_type_messages():
    text = """\
        conflicts:
          protection_window_days: 90.5
        sla:
          default:
            accept_within_hours: yes
        business_hours: [mon, tue]
        """
    assert lines_of(text) == [
        "playbook.yml line 2: conflicts.protection_window_days: must be a whole number (got 90.5)",
        "playbook.yml line 5: sla.default.accept_within_hours: must be a number (got true)",
        "playbook.yml line 6: business_hours: must be a mapping of keys to values (got a list)",
    ]


def test_duplicate_key():
    text = """\
        timezone: UTC
        conflicts:
          protection_window_days: 30
        timezone: Europe/Paris
        """
    assert lines_of(text) == [
        "playbook.yml line 4: timezone: duplicate key (already set on line 1)"
    ]


def test_yaml_syntax_error_line():
    text = """\
        timezone: UTC
        business_hours:
          days: [mon, tue
          start: "09:00"
        """
    error = errors_of(text)
    [problem] = error.errors
    assert problem.path == ""
    assert problem.message.startswith("not valid YAML")
    # the flow list opened on line 3 is never closed; the scanner notices on line 4
    assert problem.line == 4
    assert "line 3" in problem.message


def test_yaml_syntax_error_bad_indentation():
    text = "timezone: UTC\nsla:\n  default:\n    accept_within_hours: 4\n   first_outreach_within_hours: 8\n"
    [problem] = errors_of(text).errors
    assert problem.line == 5


def test_top_level_must_be_a_mapping():
    [line] = lines_of("- timezone: UTC\n")
    assert line == "playbook.yml line 1: (whole file): must be a mapping of keys to values (got a list)"


def test_several_errors_at_once_all_reported():
    text = """\
        timezone: Mars/Olympus
        business_hours:
          days: [mon, tue]
          end: 25:00
        tiers: [registered, gold]
        sla:
          tiers:
            platinum: {accept_within_hours: 1}
            gold:
              accept_within_hours: 0
        admins: [alice]
        escalation:
          levels:
            - name: Manager
              time_limit_hours: -1
          chanel: C012AB3CD
        """
    error = errors_of(text)
    assert [(p.line, p.path) for p in error.errors] == [
        (1, "timezone"),
        (4, "business_hours.end"),
        (8, "sla.tiers.platinum"),
        (10, "sla.tiers.gold.accept_within_hours"),
        (11, "admins[0]"),
        (15, "escalation.levels[0].time_limit_hours"),
        (16, "escalation.chanel"),
    ]
    assert all(isinstance(p, PlaybookProblem) for p in error.errors)
    rendered = str(error).splitlines()
    assert len(rendered) == 7
    assert all(line.startswith("playbook.yml line ") for line in rendered)
    assert rendered[-1] == "playbook.yml line 16: escalation.chanel: unknown key (did you mean channel?)"


# --------------------------------------------------------------------------- files and models


def test_load_playbook_names_the_file(tmp_path):
    path = tmp_path / "playbook.yml"
    path.write_text("timezone: UTC\nconflicts:\n  protection_window_days: -1\n")
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert str(info.value) == (
        f"{path} line 3: conflicts.protection_window_days: must be 0 or more (got -1)"
    )
    assert info.value.source == str(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yml"
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    [problem] = info.value.errors
    assert problem.line is None
    assert str(info.value).startswith(f"{path}: cannot read the file")


def test_playbook_is_immutable():
    playbook = default_playbook()
    with pytest.raises(ValidationError):
        playbook.timezone = "Europe/Paris"


def test_models_built_in_code_still_check_sla_tiers():
    with pytest.raises(ValidationError, match="diamond"):
        Playbook.model_validate({"sla": {"tiers": {"diamond": {"accept_within_hours": 1}}}})


def test_lists_that_must_not_be_empty_or_repeat():
    text = """\
        tiers: []
        partner_types: [reseller, si, reseller]
        escalation:
          levels:
            - name: Manager
            - name: Manager
        """
    assert lines_of(text) == [
        "playbook.yml line 1: tiers: must list at least one entry",
        "playbook.yml line 2: partner_types: lists 'reseller' more than once",
        "playbook.yml line 4: escalation.levels: lists 'Manager' more than once",
    ]
    assert lines_of("escalation:\n  levels: []\n") == [
        "playbook.yml line 2: escalation.levels: must list at least one entry"
    ]


def test_second_yaml_document_is_refused():
    [problem] = errors_of("timezone: UTC\n---\ntimezone: Europe/Paris\n").errors
    assert problem.line == 2
    assert "second document" in problem.message


# --------------------------------------------------------------------------- who may add and change partners


def test_who_may_add_partners_defaults_to_admins_and_partner_managers():
    assert default_playbook().partners.editors == "admins_and_managers"
    assert load_playbook(EXAMPLE).partners.editors == "admins_and_managers"  # the example spells out the default
    assert "editors:" in EXAMPLE.read_text()
    for value in ("admins", "everyone", "admins_and_managers"):
        assert parse_playbook(f"partners:\n  editors: {value}\n").partners.editors == value


def test_a_bad_partner_editors_value_names_its_line_and_the_choices():
    text = """\
        timezone: UTC
        admins: [U012AB3CD]
        partners:
          editors: everybody
        """
    assert lines_of(text) == [
        "playbook.yml line 4: partners.editors: must be one of admins_and_managers, admins, everyone "
        "(did you mean everyone?) (got 'everybody')"
    ]
    [line] = lines_of("partners:\n  editors: true\n")
    assert line == ("playbook.yml line 2: partners.editors: must be one of admins_and_managers, admins, everyone "
                    "(got true)")


def test_an_unknown_key_under_partners_is_refused_with_a_suggestion():
    [line] = lines_of("tiers: [gold]\npartners:\n  editor: admins\n")
    assert line == "playbook.yml line 3: partners.editor: unknown key (did you mean editors?)"
