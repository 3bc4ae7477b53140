"""Knowledge families from small embedded lists: capitals, colours, antonyms, plurals, categories, options."""
from __future__ import annotations

import random

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Canada": "Ottawa", "Australia": "Canberra", "Kenya": "Nairobi",
            "Peru": "Lima", "Norway": "Oslo", "Greece": "Athens", "Portugal": "Lisbon", "Poland": "Warsaw",
            "Turkey": "Ankara", "Chile": "Santiago", "Thailand": "Bangkok", "Cuba": "Havana", "Ireland": "Dublin",
            "Sweden": "Stockholm", "Austria": "Vienna", "Argentina": "Buenos Aires", "Vietnam": "Hanoi",
            "Morocco": "Rabat"}
COLOURS = {"a ripe banana": "yellow", "grass": "green", "snow": "white", "coal": "black", "a ripe tomato": "red",
           "the sky on a clear day": "blue", "a carrot": "orange", "a lemon": "yellow", "milk": "white",
           "a strawberry": "red", "chocolate": "brown", "a lime": "green"}
ANTONYMS = {"hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "up": "down", "light": "dark",
            "early": "late", "open": "closed", "full": "empty", "old": "young", "strong": "weak",
            "high": "low", "wet": "dry", "rich": "poor", "loud": "quiet", "hard": "soft"}
PLURALS = {"mouse": "mice", "child": "children", "foot": "feet", "tooth": "teeth", "goose": "geese",
           "man": "men", "woman": "women", "person": "people", "knife": "knives", "leaf": "leaves",
           "box": "boxes", "city": "cities", "baby": "babies", "wolf": "wolves", "sheep": "sheep",
           "fish": "fish", "ox": "oxen", "cactus": "cacti", "bus": "buses", "lady": "ladies", "half": "halves",
           "potato": "potatoes", "hero": "heroes", "church": "churches", "wife": "wives", "life": "lives"}
CLASSES = {"whale": "mammal", "dolphin": "mammal", "bat": "mammal", "shark": "fish", "salmon": "fish",
           "trout": "fish", "eagle": "bird", "penguin": "bird", "owl": "bird", "frog": "amphibian",
           "snake": "reptile", "lizard": "reptile"}
CLASS_OPTIONS = ["mammal", "fish", "bird", "reptile", "amphibian"]
LETTERS = "ABCD"
ONE_WORD = (" Answer with one word.", " Reply with a single word.", " One word only.", " Give just the word.")


def with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def capital_city(rng: random.Random) -> dict:
    country = rng.choice(sorted(CAPITALS))
    ask = rng.choice(["What is the capital city of {}?", "Name the capital of {}.", "Which city is the capital of {}?",
                      "The capital of {} is which city?"])
    return {"prompt": ask.format(country) + " Answer with the city only.",
            "reference": CAPITALS[country], "scorer": "contains"}


def colour_of(rng: random.Random) -> dict:
    thing = rng.choice(sorted(COLOURS))
    options = sorted(set(COLOURS.values()))
    ask = rng.choice(["What colour is {}?", "What is the usual colour of {}?", "Which colour is {} usually?"])
    return {"prompt": ask.format(thing) + rng.choice(ONE_WORD), "reference": COLOURS[thing],
            "scorer": "choice", "options": options}


def antonym(rng: random.Random) -> dict:
    pairs = {**ANTONYMS, **{b: a for a, b in ANTONYMS.items()}}
    word = rng.choice(sorted(pairs))
    return {"prompt": f'What is the opposite of "{word}"?' + rng.choice(ONE_WORD), "reference": pairs[word],
            "scorer": "contains"}


def plural(rng: random.Random) -> dict:
    word = rng.choice(sorted(PLURALS))
    return {"prompt": f'What is the plural of "{word}"?' + rng.choice(ONE_WORD), "reference": PLURALS[word],
            "scorer": "contains"}


def animal_class(rng: random.Random) -> dict:
    animal = rng.choice(sorted(CLASSES))
    shown = rng.sample([c for c in CLASS_OPTIONS if c != CLASSES[animal]], 2) + [CLASSES[animal]]
    rng.shuffle(shown)
    named = [with_article(name) for name in shown]
    return {"prompt": f"Is {with_article(animal)} {', '.join(named[:-1])} or {named[-1]}?" + rng.choice(ONE_WORD),
            "reference": CLASSES[animal], "scorer": "choice", "options": shown}


def multiple_choice(rng: random.Random) -> dict:
    country = rng.choice(sorted(CAPITALS))
    wrong = rng.sample([c for k, c in sorted(CAPITALS.items()) if k != country], 3)
    options = wrong + [CAPITALS[country]]
    rng.shuffle(options)
    lettered = dict(zip(LETTERS, options))
    shown = " ".join(f"{letter}) {text}" for letter, text in lettered.items())
    answer = next(letter for letter, text in lettered.items() if text == CAPITALS[country])
    return {"prompt": f"Which city is the capital of {country}? {shown}. Answer with the letter only.",
            "reference": answer, "scorer": "option", "options": lettered}


FAMILIES = {"capital_city": capital_city, "colour_of": colour_of, "antonym": antonym, "plural": plural,
            "animal_class": animal_class, "multiple_choice": multiple_choice}
