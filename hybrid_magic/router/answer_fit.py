"""Does the local answer answer what the question asks? Four informational after-signals, from words alone.

A question that asks yes or no, asks for a count or an amount, or offers a choice ("tea or coffee?") expects an
answer of that shape. An answer that says neither yes nor no, states no number, or names none of the options (or
more than one) has not answered it, however sure its tokens were; an answer made of the question's own words mostly
restates it. The default router weighs these with its other signals (benchmarks/heldout/log.md, candidate 7);
none of them requests a handoff alone. They read the user's prompt alone (`PromptFacts.asked`), like the
question's form (signals.QUESTION_FORMS), and the answer's text: no model call.
"""
from __future__ import annotations

import re

from ..types import Signal
from .number_words import WORDS

_AUXILIARY = re.compile(r"^\W*(?:is|are|am|was|were|do|does|did|can|could|should|would|will|has|have|had|may|might"
                        r"|must|shall)(?:n't)?\b", re.IGNORECASE)
# "can you explain ...?" asks for a text, not for yes or no
_REQUEST = re.compile(r"^\W*(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:explain|tell|give|write|list|name|"
                      r"describe|summari[sz]e|help|show|find|make|translate|suggest|recommend|convert|calculate|"
                      r"compute|provide|define|generate|create|check|fix|rewrite|draft|outline|compare)\b", re.IGNORECASE)
_OR_NOT = re.compile(r"\bor not\b", re.IGNORECASE)
OR = re.compile(r"\bor\b", re.IGNORECASE)  # the word "or": the question's form (signals.QUESTION_FORMS) reads it too
_ASKS_NUMBER = re.compile(r"\bhow (?:many|much|old|long|far|tall|big|heavy|often)\b|\b(?:what|which) year\b"
                          r"|\bwhat (?:number|percentage|temperature)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(?:" + "|".join(WORDS) + r")\b", re.IGNORECASE)  # a number, in digits or words
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_YES_OR_NO = re.compile(r"\b(?:yes or no|no or yes)\b", re.IGNORECASE)  # names both: says neither
# a lookbehind: no rescan of long blank runs; a title or "e.g." ends no sentence ("Is Dr. Lee in today?")
_SENTENCE_END = re.compile(r"(?<=[.!?:;\n])(?<!\b(?:Dr|Mr|Ms|St|Mt|Jr|Sr|vs)\.)(?<!\bMrs\.)(?<!\bProf\.)"
                           r"(?<!\b[eEiI]\.[gGeE]\.)\s+|(?<=\s)-\s+")
_WORD_OR_MARK = re.compile(r"[^\W_](?:[\w'-]*[^\W_])?|[?,.;:!]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_ARTICLES = frozenset({"a", "an", "the", "some", "my", "your"})
_FUNCTION_WORDS = frozenset(
    "the a an of to in on at for and or is are was were be it this that what which who how why when where do does "
    "did you your i me my with as by from into about can could should would will not no yes".split())

NAMES = ("missed_yes_no", "missed_number", "missed_choice", "echoes_question")


def question_part(question: str) -> str:
    """The sentence that asks: the last one ending in '?', else the last sentence."""
    parts = [part for part in _SENTENCE_END.split(question.strip()) if part.strip()]
    asked = [part for part in parts if part.rstrip().endswith("?")]
    return asked[-1] if asked else parts[-1] if parts else question


def said_yes_no(text: str) -> str | None:
    """The first whole word yes or no the text says, lower case; "yes or no" (the instruction restated) says neither.
    The yes/no scorer (experiments.scorers) reads the same word."""
    found = _YES_NO.search(_YES_OR_NO.sub(" ", str(text)))
    return found.group(1).lower() if found else None


def asks_yes_no(question: str) -> bool:
    """'... yes or no' (or 'no or yes'), '... or not?', or the asking sentence opens with an auxiliary verb, offers no choice and is
    no request for a text ("can you explain ...?")."""
    part = question_part(question)
    if _YES_OR_NO.search(question) or _OR_NOT.search(part):
        return True
    return bool(_AUXILIARY.match(part) and not OR.search(part) and not _REQUEST.match(part))


def choice_options(question: str) -> tuple[str, ...]:
    """The options the asking sentence offers: the word after its first 'or' (past an article) and the word
    before it, with any words listed before that ("tea, coffee or juice"), lower case; () when it offers none
    (yes or no, and "or not", are no choice of options)."""
    words = _WORD_OR_MARK.findall(question_part(question))
    for i, word in enumerate(words[1:-1], start=1):
        if word.lower() != "or":
            continue
        after = i + 1
        while after < len(words) - 1 and words[after].lower() in _ARTICLES:
            after += 1
        listed, before = [words[i - 1]], i - 1
        while before >= 2 and words[before - 1] == "," and words[before - 2][0].isalnum():
            listed.insert(0, words[before - 2])
            before -= 2
        options = tuple(word.lower() for word in (*listed, words[after]))
        if all(option[0].isalnum() for option in options) and not {"yes", "no"} & set(options) \
                and options[-1] != "not":
            return options
    return ()


def _content(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _FUNCTION_WORDS]


# a form the question asks for -> (does the question ask it, does the answer give it, what the card says when it is
# not asked, given, missed)
_FORMS = {
    "missed_yes_no": (asks_yes_no, said_yes_no, "The question does not ask yes or no",
                      "The local answer says yes or no, as the question asks",
                      "The question asks yes or no; the local answer says neither"),
    "missed_number": (_ASKS_NUMBER.search, _NUMBER.search,
                      "The question does not ask for a number (how many, how old, which year, ...)",
                      "The local answer states a number, as the question asks",
                      "The question asks for a number; the local answer states none"),
}


def _missed(name: str, question: str, answer: str) -> Signal:
    asks, gives, not_asked, given, missed = _FORMS[name]
    if not asks(question):
        return _fit(name, 0.0, not_asked)
    return _fit(name, 0.0, given) if gives(answer) else _fit(name, 1.0, missed)


def missed_yes_no(question: str, answer: str) -> Signal:
    return _missed("missed_yes_no", question, answer)


def missed_number(question: str, answer: str) -> Signal:
    return _missed("missed_number", question, answer)


def missed_choice(question: str, answer: str) -> Signal:
    options = choice_options(question)
    if not options:
        return _fit("missed_choice", 0.0, "The question offers no choice ('X or Y')")
    named = [option for option in options
             if re.search(rf"\b{re.escape(option)}(?:s|es)?\b", answer, re.IGNORECASE)]
    # the message names no option: the user's words stay out of the card, the ledger and the saved output
    if len(named) == 1:
        return _fit("missed_choice", 0.0, "The question offers a choice ('X or Y'); the local answer names one option")
    return _fit("missed_choice", 1.0, "The question offers a choice ('X or Y'); the local answer names "
                f"{'more than one' if named else 'none'} of them")


def echoes_question(question: str, answer: str) -> Signal:
    """The share of the answer's content words that are the question's; unavailable for an answer with none
    ("Yes.": a learned policy counts it as its training mean)."""
    asked, said = set(_content(question)), _content(answer)
    if not said:
        return Signal("echoes_question", "after", None, None, False,
                      "unavailable: the local answer has no content words to compare with the question's.",
                      available=False)
    share = sum(word in asked for word in said) / len(said)
    return _fit("echoes_question", share, f"{share:.0%} of the local answer's content words repeat the question's")


def answer_fit(question: str, answer: str) -> list[Signal]:
    """One informational after-signal per NAMES entry, in that order."""
    return [check(question, answer) for check in (missed_yes_no, missed_number, missed_choice, echoes_question)]


BARE_YES_NO = "bare_yes_no"  # no policy weighs it: a caveat on the card (router/policy.py CAVEAT_SIGNALS)


def bare_yes_no(question: str, answer: str) -> Signal:
    """1 when the question asks yes or no and the local answer says one of them, else 0. On such answers the
    router's estimate says little: on the unseen sets 157-180 (72 set-forms, 1,501 such answers of the embedded
    SmolLM2-135M) they were 48-50% right and its AUROC within them 0.47-0.50 (docs/routing_study.md)."""
    if asks_yes_no(question) and said_yes_no(answer) is not None:
        return _fit(BARE_YES_NO, 1.0, "A bare yes or no to a yes/no question: on this project's unseen sets the router "
                    "could not tell the embedded SmolLM2-135M's right ones from its wrong ones (AUROC 0.47-0.50 within "
                    "1,501 of them, half right), so its estimate says little here")
    return _fit(BARE_YES_NO, 0.0, "Not a bare yes or no to a yes/no question")


def _fit(name: str, value: float, message: str) -> Signal:
    return Signal(name, "after", value, None, False, f"{message} (informational).")
