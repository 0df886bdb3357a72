"""The Virtual Cloud Assistant's rules: topics, context, fallbacks, and date and time as a tool."""

from __future__ import annotations

import pytest
from voice_nova.engines.local.knowledge import GREETING, TOPICS_BY_NAME
from voice_nova.engines.local.responder import DATE_AND_TIME_TOOL, QUOTE_CHARS, Reply, Responder, normalize
from voice_nova.engines.local.sentences import MAX_UNIT_CHARS, split_sentences
from voice_nova.tools import ToolResult, default_tools
from voice_proto import messages as m


def answer(responder: Responder, heard: str) -> str:
    reply = responder.respond(heard)
    assert reply.tool is None, f"{heard!r} asked for a tool"
    return reply.text


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Tell me about cloud storage.", "storage"),
        ("Where should I keep my backups?", "storage"),
        ("What are virtual machines?", "compute"),
        ("How does serverless work?", "compute"),
        ("Which database should I use?", "databases"),
        ("What is a virtual private network?", "networking"),
        ("How do load balancers work?", "networking"),
        ("How do I keep my data secure?", "security"),
        ("Should I encrypt everything?", "security"),
        ("How does pricing work?", "pricing"),
        ("How much will I pay?", "pricing"),
        ("What is an availability zone?", "regions"),
        ("How do I monitor my services?", "monitoring"),
        ("What is cloud computing?", "cloud"),
    ],
)
def test_questions_on_each_subject_get_that_subjects_answer(question: str, topic: str) -> None:
    assert answer(Responder(), question) == TOPICS_BY_NAME[topic].answers[0]


def test_the_price_of_a_subject_is_that_subjects_price() -> None:
    responder = Responder()
    assert answer(responder, "How much does storage cost?") == TOPICS_BY_NAME["storage"].price
    assert answer(responder, "What do virtual machines cost?") == TOPICS_BY_NAME["compute"].price


def test_tell_me_more_goes_deeper_into_the_last_subject_then_says_it_is_done() -> None:
    responder = Responder()
    storage = TOPICS_BY_NAME["storage"]
    assert answer(responder, "Tell me about cloud storage") == storage.answers[0]
    assert answer(responder, "Tell me more.") == storage.answers[1]
    assert answer(responder, "Go on") == storage.answers[2]
    assert "That's all I have on cloud storage" in answer(responder, "tell me more")
    # A new subject resets the depth.
    assert answer(responder, "and what about databases?") == TOPICS_BY_NAME["databases"].answers[0]
    assert answer(responder, "Tell me more about that.") == TOPICS_BY_NAME["databases"].answers[1]


def test_tell_me_more_with_no_subject_asks_what_about() -> None:
    assert answer(Responder(), "Tell me more.").startswith("More about what?")


def test_what_was_not_understood_is_said_back() -> None:
    text = answer(Responder(), "Purple elephants dance at midnight!")
    assert text.startswith("Sorry, I didn't understand that.")
    assert "I heard: Purple elephants dance at midnight." in text
    assert "storage" in text  # and what it can do instead


def test_repeat_says_the_last_answer_again() -> None:
    responder = Responder()
    assert answer(responder, "Say that again.").startswith("I haven't said anything yet.")
    first = answer(responder, "What is a virtual private network?")
    assert answer(responder, "Could you repeat that?") == f"I said: {first}"


def test_small_talk() -> None:
    responder = Responder()
    assert responder.greeting() == GREETING
    assert "Virtual Cloud Assistant" in GREETING
    assert answer(responder, "Hello there").startswith("Hello!")
    assert answer(responder, "Thank you").startswith("You're welcome")
    assert answer(responder, "What can you do?").startswith("I'm a Virtual Cloud Assistant")
    assert answer(responder, "Goodbye").startswith("Goodbye")
    assert answer(responder, "").startswith("Sorry, I didn't catch that")


@pytest.mark.parametrize(
    ("question", "want", "zone", "place"),
    [
        ("What time is it?", "time", "UTC", "UTC"),
        ("What's the date today?", "date", "UTC", "UTC"),
        ("What day is it today?", "date", "UTC", "UTC"),
        ("What time is it in Tokyo?", "time", "Asia/Tokyo", "Tokyo"),
        ("What's the date and time in New York?", "both", "America/New_York", "New York"),
    ],
)
def test_date_and_time_go_through_the_tool(question: str, want: str, zone: str, place: str) -> None:
    reply = Responder().respond(question)
    assert reply.tool is not None
    assert reply.tool.name == DATE_AND_TIME_TOOL
    assert reply.tool.arguments == {"timezone": zone}
    assert (reply.tool.want, reply.tool.place) == (want, place)


async def test_the_answer_is_made_of_the_real_tools_result() -> None:
    tools = default_tools("UTC")
    responder = Responder()
    for question, expected in (("What time is it in Paris?", "time"), ("What is the date?", "date")):
        reply = responder.respond(question)
        assert reply.tool is not None
        assert reply.tool.name in tools
        result = await tools.call(reply.tool.name, reply.tool.arguments)
        assert result.ok
        text = responder.after_tool(reply.tool, result)
        assert result.value[expected] in text
    # The tool's answer is the last answer, for "say that again".
    assert answer(responder, "repeat that") == f"I said: {text}"


def test_a_failed_tool_is_said_plainly() -> None:
    responder = Responder()
    reply = responder.respond("What time is it?")
    assert reply.tool is not None
    failed = ToolResult(ok=False, content='{"error": "unknown time zone"}')
    assert responder.after_tool(reply.tool, failed) == "Sorry, I couldn't get the date and time just now."


def test_the_named_default_time_zone_is_used() -> None:
    reply = Responder("Europe/Berlin").respond("what time is it")
    assert reply.tool is not None
    assert reply.tool.arguments == {"timezone": "Europe/Berlin"}


def test_context_survives_a_handover_through_the_history() -> None:
    responder = Responder()
    responder.remember(
        [
            m.HistoryTurn(role=m.Role.ASSISTANT, text=GREETING),
            m.HistoryTurn(role=m.Role.USER, text="How do I keep my data secure?"),
            m.HistoryTurn(role=m.Role.ASSISTANT, text=TOPICS_BY_NAME["security"].answers[0]),
        ]
    )
    assert answer(responder, "Tell me more") == TOPICS_BY_NAME["security"].answers[1]


def test_a_handover_mid_answer_keeps_the_last_answer_and_the_topic() -> None:
    """The worker died before it answered the last question: the history ends with the user's turn,
    and "say that again" still has the answer before it (it said "I haven't said anything yet")."""
    storage = TOPICS_BY_NAME["storage"]
    history = [
        m.HistoryTurn(role=m.Role.ASSISTANT, text=GREETING),
        m.HistoryTurn(role=m.Role.USER, text="Tell me about storage"),
        m.HistoryTurn(role=m.Role.ASSISTANT, text=storage.answers[0]),
        m.HistoryTurn(role=m.Role.USER, text="tell me more"),
        m.HistoryTurn(role=m.Role.ASSISTANT, text=storage.answers[1]),
        m.HistoryTurn(role=m.Role.USER, text="hmm, okay"),
    ]
    responder = Responder()
    responder.remember(history)
    assert answer(responder, "Say that again") == f"I said: {storage.answers[1]}"
    again = Responder()
    again.remember(history)
    assert answer(again, "tell me more") == storage.answers[2]


def test_every_answer_opens_with_a_short_sentence() -> None:
    """The first sentence is synthesized before anything plays: it must be short."""
    for topic in TOPICS_BY_NAME.values():
        for text in (*topic.answers, topic.price) if topic.price else topic.answers:
            first = split_sentences(text)[0]
            assert len(first) <= 60, first


def test_normalize_and_sentences() -> None:
    assert normalize("What's the TIME, please?") == "what's the time please"
    assert normalize("It\u2019s  here") == "it's here"
    assert split_sentences("One. Two? Three!  ") == ["One.", "Two?", "Three!"]
    assert split_sentences("It's 3:15 PM in UTC.") == ["It's 3:15 PM in UTC."]
    assert split_sentences("") == []
    assert Reply().text == ""


def test_an_answer_costs_the_same_whatever_the_length_of_what_was_heard() -> None:
    """The reported case: 2,000 characters with no sentence end were said back whole, as one
    sentence to synthesize. What is repeated is capped, so the answer is bounded."""
    bound = len(answer(Responder(), "zq")) + QUOTE_CHARS + 1
    for heard in ("zq " * 700, "z" * 2000, "blorp, " * 300):
        text = answer(Responder(), heard)
        assert len(text) <= bound, text
        assert "\u2026" in text  # the cut is said as such


def test_every_unit_of_synthesis_is_bounded_and_keeps_every_word() -> None:
    clauses = "the first part, then a second one; " * 40
    words = "word " * 500
    for text in (clauses, words, "x" * 1001, "Short. " + words + " End."):
        units = split_sentences(text)
        assert all(0 < len(unit) <= MAX_UNIT_CHARS for unit in units)
        assert "".join("".join(units).split()) == "".join(text.split())
    # Clause ends are where a long sentence is cut first.
    assert split_sentences(clauses)[0].endswith((",", ";"))
