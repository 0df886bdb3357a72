"""The engine seam: factories found by name (entry points) or by path, made with the worker's
context, and what each declares it can do."""

from __future__ import annotations

import pytest
from voice_nova.engine import EngineContext, UnknownEngine, engine_factory, engine_names
from voice_nova.engines.bedrock.factory import BedrockFactory
from voice_nova.engines.bedrock.settings import NOVA_SONIC_V1
from voice_nova.engines.local.factory import LocalFactory
from voice_nova.engines.loopback import LoopbackEngine, LoopbackFactory
from voice_proto import messages as m
from voice_testkit.engines import ScriptedFactory

CONTEXT = EngineContext.with_default_tools("Europe/Paris")


def test_built_in_and_third_party_engines_are_found_by_their_entry_point_name() -> None:
    assert {"local", "bedrock", "loopback", "scripted"} <= set(engine_names())
    assert type(engine_factory("loopback", CONTEXT)) is LoopbackFactory
    # voice-testkit declares "scripted" in its own pyproject.toml, as any other package would.
    scripted = engine_factory("scripted", CONTEXT)
    assert type(scripted) is ScriptedFactory
    assert scripted.context is CONTEXT


def test_a_factory_is_also_named_by_its_path() -> None:
    assert type(engine_factory("voice_testkit.engines:ScriptedFactory", CONTEXT)) is ScriptedFactory


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no-such-engine", "use one of"),
        ("voice_nova.no_such_module:Factory", "cannot load"),
        ("voice_nova.engines.loopback:NoSuchFactory", "cannot load"),
        ("voice_nova.tools:ToolRegistry", "is not an EngineFactory"),
    ],
)
def test_what_is_not_an_engine_is_refused_with_the_reason(spec: str, says: str) -> None:
    with pytest.raises(UnknownEngine, match=says):
        engine_factory(spec, CONTEXT)


def test_each_engine_declares_what_it_can_do_beyond_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    C = m.Capability
    assert LocalFactory(CONTEXT).capabilities == {C.TEXT_INPUT, C.CLIENT_ENDPOINTING, C.TOOLS}
    assert BedrockFactory(CONTEXT).capabilities == {C.TEXT_INPUT, C.TOOLS}  # Nova 2, the default
    monkeypatch.setenv("NOVA_BEDROCK_MODEL_ID", NOVA_SONIC_V1)
    assert BedrockFactory(CONTEXT).capabilities == {C.TOOLS}  # v1 takes speech only
    assert LoopbackFactory(CONTEXT).capabilities == {C.TEXT_INPUT}
    assert ScriptedFactory(CONTEXT).capabilities == {C.TEXT_INPUT}


async def test_loopback_echoes_audio_and_answers_typed_text_with_one_turn() -> None:
    engine = LoopbackEngine()
    await engine.start()
    await engine.push_audio(b"\x01\x00")
    await engine.push_text("hello")
    await engine.end_of_utterance()  # not a capability of it: ignored
    await engine.close()
    user, assistant = m.Role.USER, m.Role.ASSISTANT
    assert [event async for event in engine.events()] == [
        m.AudioOut(turn_id=0, pcm=b"\x01\x00", rate=m.INPUT_RATE),
        m.TurnStarted(turn_id=1, role=user),
        m.Transcript(turn_id=1, role=user, text="hello", stage=m.Stage.FINAL),
        m.TurnEnded(turn_id=1, role=user),
        m.TurnStarted(turn_id=1, role=assistant),
        m.Transcript(turn_id=1, role=assistant, text="hello", stage=m.Stage.FINAL),
        m.TurnEnded(turn_id=1, role=assistant),
    ]
