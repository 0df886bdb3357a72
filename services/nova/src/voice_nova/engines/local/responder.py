"""The rule-based Virtual Cloud Assistant: what to answer to what was heard.

One responder per session, holding the short context a conversation needs: the topic last talked
about and how deep into it the answers went ("tell me more"), and the last answer ("say that
again"). Date and time are not known here: the reply asks for a tool, and the answer is made from
the tool's result, so it goes through the same tool path a model's calls take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from voice_proto import messages as m

from ...tools import ToolResult
from .knowledge import GREETING, PLACES, SUBJECTS, TOPICS, TOPICS_BY_NAME, Topic

DATE_AND_TIME_TOOL = "get_date_and_time"


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    #: What the answer should say: ``time``, ``date`` or ``both``.
    want: str = "time"
    #: The place as the user said it ("Tokyo"), for the answer.
    place: str = ""


@dataclass(frozen=True)
class Reply:
    """Text to speak, or a tool to call first (then :meth:`Responder.after_tool` gives the text)."""

    text: str = ""
    tool: ToolRequest | None = None


def normalize(text: str) -> str:
    """Lowercase words, apostrophes kept, everything else a single space."""
    return " ".join(re.sub(r"[^a-z0-9']+", " ", text.lower().replace("\u2019", "'")).split())


#: Most of what was heard that an answer repeats back: the cost of an answer must not grow with
#: the input (a 2,000-character text once became a 2,000-character sentence to synthesize).
QUOTE_WORDS = 12
QUOTE_CHARS = 80


def quote(heard: str) -> str:
    """What was heard, to repeat back: at most ``QUOTE_WORDS`` words and ``QUOTE_CHARS`` characters,
    with an ellipsis when cut, and no closing punctuation (the answer adds its own)."""
    words = heard.split()
    text = " ".join(words[:QUOTE_WORDS])
    cut = len(words) > QUOTE_WORDS or len(text) > QUOTE_CHARS
    text = text[:QUOTE_CHARS].rstrip(" .!?")
    return f"{text}\u2026" if cut else text


def _matches(question: str, *patterns: str) -> bool:
    return any(re.search(rf"\b(?:{pattern})\b", question) for pattern in patterns)


_PRICING = TOPICS_BY_NAME["pricing"]

_MORE = (
    r"tell me more",
    r"more about (?:it|that|this)",
    r"more details?",
    r"go on",
    r"continue",
    r"keep going",
    r"elaborate",
    r"and then",
    r"what else",
    r"anything else",
    r"more please",
    r"^more$",
)
_REPEAT = (r"repeat", r"say (?:that|it) again", r"come again", r"pardon", r"what did you say")
_GREETING = (r"hello", r"hi", r"hey", r"good (?:morning|afternoon|evening)", r"howdy")
_THANKS = (r"thanks?", r"thank you", r"cheers", r"great", r"perfect", r"awesome")
_GOODBYE = (r"bye", r"goodbye", r"good bye", r"see you", r"that's all", r"that is all")
_HELP = (r"help", r"what can you do", r"who are you", r"what are you", r"what do you know")
_TIME = (
    r"what(?:'s| is)? the time",
    r"time is it",
    r"current time",
    r"the time",
    r"what time",
    r"date and time",
    r"time and date",
)
_DATE = (
    r"what(?:'s| is)? (?:the |today's |todays )?date",
    r"today's date",
    r"what day",
    r"which day",
    r"what is today",
    r"what's today",
    r"day is (?:it|today)",
)


class Responder:
    def __init__(self, timezone: str = "UTC") -> None:
        self._timezone = timezone
        self._topic: Topic | None = None
        #: How many answers of the current topic were given.
        self._depth = 0
        self._last_answer = ""

    def greeting(self) -> str:
        return self._said(GREETING)

    def remember(self, history: list[m.HistoryTurn]) -> None:
        """Pick the context back up from a conversation that moved here from another worker: the
        last answer (for "say that again"), the topic last asked about and how far into it the
        answers went (for "tell me more"). The history is read in order, as if it happened here."""
        for turn in history:
            if turn.role is m.Role.USER:
                topic = self._best_topic(normalize(turn.text))
                if topic is not None:
                    self._topic, self._depth = topic, 1
            elif turn.text.strip():
                self._last_answer = turn.text
                if self._topic is not None:
                    given = [i + 1 for i, text in enumerate(self._topic.answers) if text in turn.text]
                    self._depth = max([self._depth, *given])

    def respond(self, heard: str) -> Reply:
        question = normalize(heard)
        if not question:
            return Reply(self._said("Sorry, I didn't catch that. Could you say it again?"))
        tool = self._date_or_time(question)
        if tool is not None:
            return Reply(tool=tool)
        topic = self._best_topic(question)
        wants_more = _matches(question, *_MORE)
        if topic is not None:
            if topic.price and _PRICING.score(question) > 0:
                self._topic, self._depth = topic, 1
                return Reply(self._said(topic.price))
            if wants_more and topic is self._topic:
                return Reply(self._more())
            self._topic, self._depth = topic, 1
            return Reply(self._said(topic.answers[0]))
        if wants_more:
            return Reply(self._more())
        if _matches(question, *_REPEAT):
            if self._last_answer:
                return Reply(f"I said: {self._last_answer}")
            return Reply("I haven't said anything yet. " + self._said(f"Ask me about {SUBJECTS}."))
        if _matches(question, *_HELP):
            return Reply(
                self._said(
                    f"I'm a Virtual Cloud Assistant. I can explain {SUBJECTS}, "
                    "tell you the date and time, and go deeper when you say tell me more."
                )
            )
        if _matches(question, *_GOODBYE):
            return Reply(self._said("Goodbye! Come back any time you have a cloud question."))
        if _matches(question, *_THANKS):
            return Reply(self._said("You're welcome. What else would you like to know?"))
        if _matches(question, *_GREETING):
            return Reply(self._said(f"Hello! Ask me about {SUBJECTS}."))
        return Reply(
            self._said(
                f"Sorry, I didn't understand that. I heard: {quote(heard)}. I can help with {SUBJECTS}."
            )
        )

    def after_tool(self, request: ToolRequest, result: ToolResult) -> str:
        """The spoken answer made of a date-and-time tool's result."""
        value = result.value if result.ok else None
        if not isinstance(value, dict) or not {"time", "date"} <= value.keys():
            return self._said("Sorry, I couldn't get the date and time just now.")
        where = f" in {request.place}" if request.place else ""
        if request.want == "date":
            return self._said(f"Today is {value['date']}{where}.")
        if request.want == "both":
            return self._said(f"It's {value['time']} on {value['date']}{where}.")
        return self._said(f"It's {value['time']}{where}.")

    def _date_or_time(self, question: str) -> ToolRequest | None:
        wants_time = _matches(question, *_TIME)
        wants_date = _matches(question, *_DATE)
        if not (wants_time or wants_date):
            return None
        want = "both" if wants_time and wants_date else "time" if wants_time else "date"
        place = next((name for name in PLACES if re.search(rf"\bin {name}\b", question)), "")
        zone = PLACES[place] if place else self._timezone
        return ToolRequest(
            name=DATE_AND_TIME_TOOL,
            arguments={"timezone": zone},
            want=want,
            place=place.title() if place and place != "utc" else ("UTC" if zone == "UTC" else ""),
        )

    def _best_topic(self, question: str) -> Topic | None:
        """The topic with the most cues; pricing only when no other topic is named, since
        "how much does storage cost" is about storage's price."""
        best, best_score = None, 0
        for topic in TOPICS:
            score = topic.score(question) if topic is not _PRICING else 0
            if score > best_score:
                best, best_score = topic, score
        if best is None and _PRICING.score(question) > 0:
            return _PRICING
        return best

    def _more(self) -> str:
        topic = self._topic
        if topic is None:
            return self._said(f"More about what? Ask me about {SUBJECTS}.")
        if self._depth >= len(topic.answers):
            return self._said(f"That's all I have on {topic.title}. Ask me about {SUBJECTS}.")
        self._depth += 1
        return self._said(topic.answers[self._depth - 1])

    def _said(self, text: str) -> str:
        self._last_answer = text
        return text
