#!/usr/bin/env python3
"""tests/unit/cron_oracle.py -- the cron module checked against croniter.

Generates random cron expressions in every syntax form the module accepts
(values, ranges, steps, lists, names in any case, 7 for Sunday, @-macros,
fields that select everything without being `*`) and random instants, runs
them through tests/tools/cron_eval (the C module), and compares each answer
with croniter's:

  next: croniter(expr, t).get_next()   -- the first fire time after t
  prev: croniter(expr, t + 1s).get_prev() -- croniter's prev is strictly
        before its start; fire times are whole minutes, so the latest one
        before t + 1s is the latest one at or before t, which is what the
        C module answers.

croniter 1.3.5 (Debian 12) mishandles the ends of short months: its prev
never lands on 29 February (it takes February as 28 days), and its next,
when the day list holds a day the month lacks (31 in February), jumps that
many days ahead and skips the first days of the next month; and its prev
finds nothing at all for a day-of-month that only 29 February has. Where
the two disagree and the end of a month shorter than 31 days lies between
the instant and the answers, or croniter finds no date, the case is
settled by a plain day-by-day walk over croniter's own parse of the
expression (its `expanded` fields, with its either-day rule); it must agree
with the module. These cases are counted and printed.

Expressions the module refuses must be refused by croniter too, or (for
days that never exist, like 30 February) be ones croniter accepts but can
never find a date for. A fixed list of invalid expressions must be refused.

The seed is printed; --seed (or LC_CRON_ORACLE_SEED) replays a run.
croniter missing is a failure, never a skip: install python3-croniter
(Debian's package, for /usr/bin/python3).
"""

import argparse
import datetime
import importlib.metadata
import os
import random
import subprocess
import sys

try:
    from croniter import croniter, CroniterBadCronError, CroniterBadDateError
except ImportError:
    sys.exit("cron_oracle: FAILED: the python module croniter is missing for %s "
             "(install the Debian package python3-croniter)" % sys.executable)

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (low, high, largest step) as the module reads each field.
FIELDS = [(0, 59, 60), (0, 23, 24), (1, 31, 31), (1, 12, 12), (0, 7, 7)]
MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

# Refused by the module, with the part of the message that says why.
INVALID = [
    ("", "expected 5 fields"),
    ("* * * *", "expected 5 fields"),
    ("* * * * * *", "expected 5 fields"),
    ("60 * * * *", "cron field 1 (minute): 60 is out of range 0-59"),
    ("* 25 * * *", "cron field 2 (hour): 25 is out of range 0-23"),
    ("* * 0 * *", "cron field 3 (day-of-month): 0 is out of range 1-31"),
    ("* * 32 * *", "cron field 3 (day-of-month): 32 is out of range 1-31"),
    ("* * * 13 *", "cron field 4 (month): 13 is out of range 1-12"),
    ("* * * 0 *", "cron field 4 (month): 0 is out of range 1-12"),
    ("* * * * 8", "cron field 5 (day-of-week): 8 is out of range 0-7"),
    ("* * * foo *", "cron field 4 (month): unknown name 'foo' (expected jan..dec)"),
    ("* * * * funday", "cron field 5 (day-of-week): unknown name 'funday'"),
    ("mon * * * *", "cron field 1 (minute): 'mon' is not a number"),
    ("*/0 * * * *", "cron field 1 (minute): step 0 is out of range 1-60"),
    ("5- * * * *", "cron field 1 (minute): cannot read '5-'"),
    ("-5 * * * *", "cron field 1 (minute): cannot read '-5'"),
    ("1,,2 * * * *", "cron field 1 (minute): empty item in the list '1,,2'"),
    ("* 20-10 * * *", "cron field 2 (hour): range 20-10 runs backwards"),
    ("* * * dec-jan *", "cron field 4 (month): range dec-jan runs backwards"),
    ("*/ * * * *", "cron field 1 (minute): '*/' has no step after '/'"),
    ("*/x * * * *", "cron field 1 (minute): step 'x' is not a number"),
    ("5x * * * *", "cron field 1 (minute): '5x' is not a number"),
    ("? * * * *", "cron field 1 (minute): cannot read '?'"),
    ("* * L * *", "cron field 3 (day-of-month): 'L' is not a number"),
    ("* * * * 5#2", "cron field 5 (day-of-week): cannot read '5#2'"),
    ("* * 30 2 *", "never fires"),
    ("0 0 30,31 feb *", "never fires"),
    ("0 0 31 4,6,9,11 *", "never fires"),
    ("0 0 31 2 mon", "never fires"),
    ("@reboot", "unknown '@reboot'"),
    ("@daily x", "unknown '@daily'"),
]


def rand_value(rng, i, lo, hi):
    """A value of field i, as a number or (sometimes) a name."""
    v = rng.randint(lo, hi)
    if i == 3 and rng.random() < 0.4:
        return MONTHS[v - 1].upper() if rng.random() < 0.3 else MONTHS[v - 1]
    if i == 4 and v < 7 and rng.random() < 0.4:
        return DAYS[v].capitalize() if rng.random() < 0.3 else DAYS[v]
    return str(v)


def rand_item(rng, i):
    lo, hi, span = FIELDS[i]
    top = 6 if i == 4 else hi  # ranges in day-of-week stay below 7 mostly
    kind = rng.choice(["value", "value", "range", "range", "star_step", "range_step",
                       "value_step"])
    step = rng.choice([1, 2, 3, 5, rng.randint(1, span)])
    if kind == "value":
        return rand_value(rng, i, lo, hi)
    if kind == "star_step":
        return "*/%d" % step
    if kind == "value_step":
        return "%s/%d" % (rand_value(rng, i, lo, top), step)
    a = rng.randint(lo, top)
    b = rng.randint(a, hi)
    if i == 4 and rng.random() < 0.15 and a > 0:
        b = 0  # mon-sun: 0 at the top of a range means 7
    text = "%s-%s" % (rand_name_or_number(rng, i, a), rand_name_or_number(rng, i, b))
    return text if kind == "range" else "%s/%d" % (text, step)


def rand_name_or_number(rng, i, v):
    if i == 3 and rng.random() < 0.3:
        return MONTHS[v - 1]
    if i == 4 and rng.random() < 0.3:
        return DAYS[v % 7] if v != 7 else "7"
    return str(v)


def rand_field(rng, i):
    r = rng.random()
    if r < 0.35:
        return "*"
    if r < 0.40:
        # Everything, written another way: unrestricted all the same.
        return rng.choice({0: ["0-59", "*/1"], 1: ["0-23", "*/1"], 2: ["1-31", "*/1"],
                           3: ["1-12", "jan-dec"], 4: ["0-6", "1-7", "0-7", "sun-sat",
                                                      "mon-sun", "*/1"]}[i])
    n = 1 if r < 0.75 else rng.randint(2, 4)
    return ",".join(rand_item(rng, i) for _ in range(n))


def rand_expr(rng):
    if rng.random() < 0.02:
        return rng.choice(MACROS)
    fields = [rand_field(rng, i) for i in range(5)]
    # Restrict both day fields often: the either-day rule.
    if rng.random() < 0.3:
        fields[2] = ",".join(rand_item(rng, 2) for _ in range(rng.randint(1, 2)))
        fields[4] = ",".join(rand_item(rng, 4) for _ in range(rng.randint(1, 2)))
    sep = rng.choice([" ", " ", " ", "  ", "\t"])
    return sep.join(fields)


def special_instants():
    """Boundaries: leap days, a century that is not leap, month and year
    ends, exact minutes."""
    out = []
    for s in ["2000-02-28T23:59:00", "2000-02-29T00:00:00", "2004-02-29T12:00:00",
              "2023-12-31T23:59:59", "2024-01-01T00:00:00", "2024-02-29T23:59:00",
              "2099-12-31T23:59:00", "2100-02-28T23:59:59", "2100-03-01T00:00:00",
              "2026-11-30T13:25:00", "2031-07-31T23:59:30"]:
        d = datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc)
        out.append(int(d.timestamp()))
    return out


def rand_instant(rng, specials):
    r = rng.random()
    if r < 0.15:
        return rng.choice(specials)
    t = rng.randint(315532800, 4102444800)  # 1980 .. 2100
    if r < 0.5:
        t -= t % 60  # on a whole minute: is it itself a fire time?
    return t


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def oracle(expr, t):
    """croniter's (next, prev <= t) in unix seconds, None where it finds no
    date; raises CroniterBadCronError."""
    try:
        nxt = int(croniter(expr, utc(t)).get_next(float))
    except CroniterBadDateError:
        nxt = None
    try:
        prv = int(croniter(expr, utc(t + 1)).get_prev(float))
    except CroniterBadDateError:
        prv = None
    return nxt, prv


def short_month_end_between(a, b):
    """Whether [a, b] (unix seconds) holds the first day of a month that
    follows a month shorter than 31 days (March, May, July, October,
    December)."""
    lo, hi = utc(min(a, b)).date(), utc(max(a, b)).date()
    for y in range(lo.year, hi.year + 1):
        for m in (3, 5, 7, 10, 12):
            if lo <= datetime.date(y, m, 1) <= hi:
                return True
    return False


def walk(expr, t, forward):
    """Fire times on croniter's parse of expr, found day by day: the first
    after t (forward) or the latest at or before t. None after 10 years."""
    exp = croniter(expr).expanded
    allv = lambda f, v: f == ["*"] or v in f  # noqa: E731
    either = exp[2] != ["*"] and exp[4] != ["*"]
    day = utc(t).date()
    for _ in range(3700):
        dow = day.isoweekday() % 7
        dom_ok, dow_ok = allv(exp[2], day.day), allv(exp[4], dow)
        if allv(exp[3], day.month) and ((dom_ok or dow_ok) if either else (dom_ok and dow_ok)):
            hours = range(24) if exp[1] == ["*"] else exp[1]
            minutes = range(60) if exp[0] == ["*"] else exp[0]
            base = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
            times = [int(base.timestamp()) + h * 3600 + m * 60 for h in hours for m in minutes]
            times = [x for x in times if (x > t if forward else x <= t)]
            if times:
                return min(times) if forward else max(times)
        day += datetime.timedelta(days=1 if forward else -1)
    return None


def croniter_never_fires(expr):
    try:
        croniter(expr, utc(946684800)).get_next(float)
    except CroniterBadDateError:
        return True
    return False


def run_eval(path, cases):
    text = "".join("%s\t%d\n" % (e, t) for e, t in cases)
    res = subprocess.run([path], input=text, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit("cron_oracle: FAILED: %s exited %d: %s" % (path, res.returncode, res.stderr))
    lines = res.stdout.splitlines()
    if len(lines) != len(cases):
        sys.exit("cron_oracle: FAILED: %d answers for %d cases" % (len(lines), len(cases)))
    return lines


def check_invalid(path):
    bad = 0
    answers = run_eval(path, [(e, 0) for e, _ in INVALID])
    for (expr, want), got in zip(INVALID, answers):
        if not got.startswith("error ") or want not in got:
            print("FAIL invalid %r: got %r, want an error with %r" % (expr, got, want))
            bad += 1
    return bad


def iso(t):
    return utc(t).isoformat() if t is not None and t >= 0 else str(t)


def compare(expr, t, got, counts):
    """One case; returns the failure text or None."""
    if got.startswith("error "):
        if "never fires" in got and croniter_never_fires(expr):
            counts["never"] += 1
            return None
        if not croniter.is_valid(expr):
            counts["both_refused"] += 1
            return None
        return "module refused what croniter accepts: %s" % got
    try:
        want = oracle(expr, t)
    except CroniterBadCronError as e:
        return "croniter refuses (%s) where the module answers %s" % (e, got)
    have = tuple(int(x) for x in got.split())
    if have == want:
        counts["agree"] += 1
        return None
    known = None in want or short_month_end_between(
        min(t, have[1], want[1] or t), max(t, have[0], want[0] or t))
    if known and have == (walk(expr, t, True), walk(expr, t, False)):
        counts["walk"] += 1
        return None
    return "module next=%s prev=%s, croniter next=%s prev=%s" % (
        iso(have[0]), iso(have[1]), iso(want[0]), iso(want[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eval", required=True, help="path of the cron_eval program")
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("LC_CRON_ORACLE_SEED", "20261130")))
    ap.add_argument("--expressions", type=int, default=2000)
    ap.add_argument("--instants", type=int, default=3, help="instants per expression")
    args = ap.parse_args()
    print("cron_oracle: seed %d (replay with --seed %d), %d expressions x %d instants, "
          "croniter %s" % (args.seed, args.seed, args.expressions, args.instants,
                           importlib.metadata.version("croniter")))
    rng = random.Random(args.seed)
    specials = special_instants()
    cases = []
    for _ in range(args.expressions):
        expr = rand_expr(rng)
        cases += [(expr, rand_instant(rng, specials)) for _ in range(args.instants)]
    bad = check_invalid(args.eval)
    counts = {"agree": 0, "walk": 0, "never": 0, "both_refused": 0}
    for (expr, t), got in zip(cases, run_eval(args.eval, cases)):
        why = compare(expr, t, got, counts)
        if why is not None:
            bad += 1
            if bad <= 30:
                print("FAIL %r at %s (%d): %s" % (expr, utc(t).isoformat(), t, why))
    print("cron_oracle: %d cases agree with croniter, %d more agree with the day walk where "
          "croniter errs at the end of a short month, %d refused as never firing (croniter finds "
          "no date either), %d refused by both, %d invalid expressions checked" % (
              counts["agree"], counts["walk"], counts["never"], counts["both_refused"],
              len(INVALID)))
    if bad:
        print("cron_oracle: FAILED: %d disagreements (seed %d)" % (bad, args.seed))
        return 1
    print("cron_oracle: 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
