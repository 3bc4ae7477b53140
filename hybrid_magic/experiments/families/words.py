"""Word families: letter counting, reversal, length, anagrams, last letter, odd one out."""
from __future__ import annotations

import random

WORDS = ["planet", "garden", "window", "rabbit", "yellow", "market", "silver", "pocket", "button", "candle",
         "forest", "dragon", "butter", "letter", "summer", "bottle", "pepper", "banana", "cherry", "strawberry",
         "mississippi", "balloon", "coffee", "tomato", "giraffe", "umbrella", "kitten", "orange", "puzzle", "river"]
SYLLABLES = ["ba", "ko", "ri", "mu", "te", "lo", "sa", "ni", "do", "pe", "gu", "fi", "ra", "zo", "me", "tu"]
ANAGRAMS = [("listen", "silent"), ("earth", "heart"), ("night", "thing"), ("below", "elbow"), ("state", "taste"),
            ("dusty", "study"), ("lemon", "melon"), ("angel", "glean"), ("cider", "cried"), ("inch", "chin")]
GROUPS = {"fruit": ["apple", "banana", "cherry", "grape", "mango", "peach", "plum"],
          "animal": ["horse", "tiger", "rabbit", "mouse", "camel", "eagle", "wolf"],
          "colour": ["red", "green", "purple", "yellow", "brown", "pink"],
          "vehicle": ["car", "bus", "train", "bicycle", "truck", "boat"]}


def some_word(rng: random.Random) -> str:
    """A real word half the time, else a made-up one of 2-4 syllables (so families never run out)."""
    if rng.random() < 0.5:
        return rng.choice(WORDS)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def letter_count(rng: random.Random) -> dict:
    word = some_word(rng)
    letter = rng.choice(sorted(set(word)))
    return {"prompt": f'How many times does the letter "{letter}" appear in the word "{word}"? '
            "Answer with the number only.", "reference": word.count(letter), "scorer": "numeric"}


def word_reverse(rng: random.Random) -> dict:
    word = some_word(rng)[:8]
    return {"prompt": f'Write the word "{word}" backwards, letter by letter reversed. Answer with the word only.',
            "reference": word[::-1], "scorer": "contains"}


def word_length(rng: random.Random) -> dict:
    word = some_word(rng)
    return {"prompt": f'How many letters are in the word "{word}"? Answer with the number only.',
            "reference": len(word), "scorer": "numeric"}


def anagram_check(rng: random.Random) -> dict:
    """A known pair, or a word and its shuffled letters; half the time one letter is changed."""
    if rng.random() < 0.5:
        a, b = rng.choice(ANAGRAMS)
    else:
        a = rng.choice(WORDS)
        b = "".join(rng.sample(a, len(a)))
    if rng.random() < 0.5:  # a near miss: same length, one letter changed
        b = b[:-1] + ("a" if b[-1] != "a" else "o")
    same = sorted(a) == sorted(b)
    return {"prompt": f'Are "{a}" and "{b}" anagrams of each other? Answer yes or no.',
            "reference": "yes" if same else "no", "scorer": "yesno"}


def last_letter(rng: random.Random) -> dict:
    word = some_word(rng)
    return {"prompt": f'What is the last letter of the word "{word}"? Answer with the letter only.',
            "reference": word[-1], "scorer": "letter"}


def odd_one_out(rng: random.Random) -> dict:
    group, other = rng.sample(sorted(GROUPS), 2)
    members, odd = rng.sample(GROUPS[group], 3), rng.choice(GROUPS[other])
    options = members + [odd]
    rng.shuffle(options)
    return {"prompt": f"Which word does not belong with the others: {', '.join(options)}? "
            "Answer with the word only.", "reference": odd, "scorer": "choice", "options": options}


FAMILIES = {"letter_count": letter_count, "word_reverse": word_reverse, "word_length": word_length,
            "anagram_check": anagram_check, "last_letter": last_letter, "odd_one_out": odd_one_out}
