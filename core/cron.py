"""Five-field cron expressions (minute hour day-of-month month day-of-week, UTC), checked
once and rendered for each scheduler: EventBridge's six-field `cron(...)`, Cloud
Scheduler's unix cron as is, the Azure timer's six-field NCRONTAB, and the next time for
the local server. Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists
`a,b`, and month and day names (JAN, MON). Day-of-week 0 and 7 are Sunday. As in cron,
when both day fields are restricted a day matching either one fires."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import ConfigError

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))  # fmt: skip
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *"}  # fmt: skip
PART = re.compile(r"^(\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:/(\d+))?$")


def _number(text: str, index: int) -> int:
    names = MONTHS if index == 3 else DAYS if index == 4 else ()
    if text in names:
        return names.index(text) + (1 if index == 3 else 0)
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a number")
    return int(text)


def _values(field: str, index: int) -> frozenset[int]:
    name, low, high = FIELDS[index]
    found: set[int] = set()
    for part in field.upper().split(","):
        match = PART.match(part)
        if not match:
            raise ValueError(f"{name}: '{part}' is not *, N, A-B, */N or A-B/N")
        span, step = match.group(1), int(match.group(2) or 1)
        first, last = (low, high) if span == "*" else (
            (_number(span.split("-")[0], index), _number(span.split("-")[-1], index)))  # fmt: skip
        if not low <= first <= last <= high or step < 1:
            raise ValueError(f"{name}: '{part}' is outside {low}-{high}")
        found.update(range(first, last + 1, step))
    if index == 4 and 7 in found:
        found = (found - {7}) | {0}
    return frozenset(found)


@dataclass(frozen=True)
class Cron:
    text: str
    fields: tuple[frozenset[int], ...]
    restricted: tuple[bool, bool]  # day of month, day of week not `*`

    @classmethod
    def parse(cls, expression: str) -> Cron:
        text = ALIASES.get(expression.strip(), expression.strip())
        parts = text.split()
        if len(parts) != len(FIELDS):
            raise ConfigError(
                f"'{expression}' is not a cron expression: give five fields, minute hour "
                "day-of-month month day-of-week (e.g. '0 3 * * *' for 03:00 UTC daily)"
            )
        try:
            fields = tuple(_values(part, i) for i, part in enumerate(parts))
        except ValueError as exc:
            raise ConfigError(f"'{expression}' is not a valid cron expression: {exc}") from None
        return cls(" ".join(parts), fields, (parts[2] != "*", parts[4] != "*"))

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.fields[2]
        in_week = (moment.isoweekday() % 7) in self.fields[4]
        if all(self.restricted):
            return in_month or in_week
        return in_month and in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first minute strictly after `moment` (UTC) that the expression selects."""
        moment = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 4):  # days: a 29 February schedule fires within four years
            if moment.month in self.fields[3] and self._day_matches(moment):
                for hour in sorted(h for h in self.fields[1] if h >= moment.hour):
                    start = moment.minute if hour == moment.hour else 0
                    minutes = [m for m in sorted(self.fields[0]) if m >= start]
                    if minutes:
                        return moment.replace(hour=hour, minute=minutes[0])
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
        raise ConfigError(f"cron '{self.text}' never fires (e.g. 30 February)")

    def eventbridge(self) -> str:
        """EventBridge's cron(min hour dom month dow year): one day field must be `?`,
        days of the week by name (its numbers start at 1 for Sunday)."""
        parts = [
            f"{FIELDS[i][1]}/{part[2:]}" if part.startswith("*/") else part
            for i, part in enumerate(self.text.split())
        ]  # EventBridge writes steps from a start: 0/15
        minute, hour, dom, month, dow = parts
        if dow == "*":
            dow = "?"
        elif dom != "*":
            raise ConfigError(
                f"cron '{self.text}': EventBridge cannot restrict both the day of the month "
                "and the day of the week; restrict one"
            )
        else:
            dom, dow = "?", ",".join(DAYS[d] for d in sorted(self.fields[4]))
        return f"cron({minute} {hour} {dom} {month} {dow} *)"

    def ncrontab(self) -> str:
        """The Azure Functions timer's six fields: seconds first."""
        return f"0 {self.text}"


def parse_duration(text: str) -> timedelta:
    """'90m', '24h', '7d' (also '30s'): the windows and cooldowns of the config."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", str(text))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"'{text}' is not a duration: give e.g. '90m', '24h' or '7d'")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})
