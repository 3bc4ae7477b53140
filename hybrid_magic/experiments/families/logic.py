"""Logic families: boolean expressions, syllogisms, yes/no from a small table, days, months, clock times."""
from __future__ import annotations

import random

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
NONSENSE = ["bloops", "razzies", "lazzies", "wugs", "daxes", "feps", "tovs", "zorbs"]
PEOPLE = ["Anna", "Ben", "Carl", "Dina", "Eric", "Fay"]


def boolean_logic(rng: random.Random) -> dict:
    """Two or three operands joined by and/or, sometimes negated; evaluated left to right by code."""
    values = [rng.choice([True, False]) for _ in range(rng.choice([2, 3]))]
    text, value = str(values[0]).lower(), values[0]
    for operand in values[1:]:
        op = rng.choice(["and", "or"])
        text = f"({text} {op} {str(operand).lower()})" if text.count(" ") else f"{text} {op} {str(operand).lower()}"
        value = (value and operand) if op == "and" else (value or operand)
    if rng.random() < 0.3:
        text, value = f"not ({text})", not value
    return {"prompt": f"In logic, what is {text}? Answer true or false.", "reference": str(value).lower(),
            "scorer": "choice", "options": ["true", "false"]}


def syllogism(rng: random.Random) -> dict:
    a, b, c = rng.sample(NONSENSE, 3)
    valid = rng.random() < 0.5
    second = f"All {b} are {c}." if valid else f"Some {c} are {b}."
    return {"prompt": f"All {a} are {b}. {second} Does it follow that all {a} are {c}? Answer yes or no.",
            "reference": "yes" if valid else "no", "scorer": "yesno"}


def table_lookup(rng: random.Random) -> dict:
    people = rng.sample(PEOPLE, 3)
    ages = rng.sample(range(5, 60), 3)
    table = ", ".join(f"{p} is {a}" for p, a in zip(people, ages))
    i, j = rng.sample(range(3), 2)
    return {"prompt": f"{table} years old. Is {people[i]} older than {people[j]}? Answer yes or no.",
            "reference": "yes" if ages[i] > ages[j] else "no", "scorer": "yesno"}


def day_of_week(rng: random.Random) -> dict:
    start, ahead = rng.randrange(7), rng.randint(1, 20)
    return {"prompt": f"Today is {DAYS[start]}. What day of the week will it be in {ahead} days? "
            "Answer with the day only.", "reference": DAYS[(start + ahead) % 7], "scorer": "choice",
            "options": DAYS}


def month_after(rng: random.Random) -> dict:
    start, ahead = rng.randrange(12), rng.randint(1, 11)
    return {"prompt": f"Which month comes {ahead} months after {MONTHS[start]}? Answer with the month only.",
            "reference": MONTHS[(start + ahead) % 12], "scorer": "choice", "options": MONTHS}


def clock_time(rng: random.Random) -> dict:
    hour, minute, ahead = rng.randint(1, 12), rng.choice([0, 15, 30, 45]), rng.randint(1, 5)
    later = (hour + ahead - 1) % 12 + 1
    return {"prompt": f"On a 12-hour clock, what time is it {ahead} hours after {hour}:{minute:02d}? "
            "Answer in the form H:MM.", "reference": f"{later}:{minute:02d}", "scorer": "token"}


def date_format(rng: random.Random) -> dict:
    year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return {"prompt": f"Write the date {year}-{month:02d}-{day:02d} in the format DD/MM/YYYY. "
            "Answer with the date only.", "reference": f"{day:02d}/{month:02d}/{year}", "scorer": "token"}


FAMILIES = {"boolean_logic": boolean_logic, "syllogism": syllogism, "table_lookup": table_lookup,
            "day_of_week": day_of_week, "month_after": month_after, "clock_time": clock_time,
            "date_format": date_format}
