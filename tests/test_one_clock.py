"""One source of time: product code reads "now" only through store.clock, which a tick or a test
can move (issue 9). A new `datetime.now()` anywhere else fails here, the day it is written."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import time_machine

from store import clock

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "scheduling", "store", "messages")  # the product; not slackkit/, which
# plays Slack, whose clock is the machine's (slackkit.signing stamps requests with it, as Bolt expects)
ALLOWED = {"store/clock.py"}
WALL_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
              ("time", "time"), ("time", "localtime"), ("time", "gmtime")}


def wall_reads(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (name, node.func.attr) in WALL_READS:
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node.func)}()")
    return found


def test_no_product_module_reads_the_wall_clock_itself():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)) not in ALLOWED:
                found += wall_reads(path)
    assert found == []


def test_the_scan_covers_every_product_package_and_its_allowances_exist():
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package
    for path in ALLOWED:  # an allowance for a file that has moved would let its successor go unchecked
        assert (ROOT / path).is_file() and path.split("/")[0] in PACKAGES, path


def test_the_checker_finds_a_wall_clock_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import datetime as dt\nimport time\nA = dt.datetime.now(dt.UTC)\nB = dt.date.today()\n"
                      "C = time.time()\nD = dt.datetime.fromisoformat('2026-01-01')\n")
    assert [line.split(" ", 1)[1] for line in wall_reads(sample, tmp_path)] == [
        "dt.datetime.now()", "dt.date.today()", "time.time()"]


def test_travelled_to_moves_now_and_lets_it_run_on_in_either_direction():
    for offset in (dt.timedelta(hours=-3), dt.timedelta(days=400)):
        target = clock.wall() + offset
        with clock.travelled_to(target) as start:
            assert start == target
            first = clock.now()
            assert dt.timedelta(0) <= first - target < dt.timedelta(seconds=5)
            assert clock.now() >= first  # it runs on from there
        assert abs(clock.now() - clock.wall()) < dt.timedelta(seconds=1)  # and is back afterwards


def test_today_is_the_date_in_the_zone_asked_for_not_the_machines():
    # 23:30 UTC on a 31 December is already the new year in Auckland and still the old one in Los Angeles
    with time_machine.travel(dt.datetime(2030, 12, 31, 23, 30, tzinfo=dt.UTC), tick=False):
        from zoneinfo import ZoneInfo

        assert clock.today(ZoneInfo("Pacific/Auckland")) == dt.date(2031, 1, 1)
        assert clock.today(ZoneInfo("America/Los_Angeles")) == dt.date(2030, 12, 31)


def test_a_shift_is_carried_to_work_handed_to_another_thread():
    from concurrent.futures import ThreadPoolExecutor

    target = clock.wall() - dt.timedelta(days=2)
    with ThreadPoolExecutor(1) as pool, clock.travelled_to(target):
        carried = pool.submit(clock.carry(clock.now)).result()
        bare = pool.submit(clock.now).result()
    assert carried - target < dt.timedelta(seconds=5)
    assert abs(bare - clock.wall()) < dt.timedelta(seconds=5)  # threads not handed the shift keep the wall


def test_a_pass_stands_the_clock_still_at_its_instant_and_a_running_clock_resumes_after():
    target = clock.wall() - dt.timedelta(hours=5)
    with clock.travelled_to(target):
        with clock.travelled_to(target + dt.timedelta(minutes=1), tick=False):
            assert clock.now() == clock.now() == target + dt.timedelta(minutes=1)
        assert dt.timedelta(0) <= clock.now() - target < dt.timedelta(seconds=5)


def test_the_clock_refuses_a_naive_instant():
    import pytest

    with pytest.raises(ValueError, match="aware instant"):
        with clock.travelled_to(dt.datetime(2030, 1, 1, 9, 0)):
            pass
