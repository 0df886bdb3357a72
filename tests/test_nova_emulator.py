"""The emulator's protocol validator catches what a wrong client would do (so that its silence in
the stack tests means something), and accepts what the engine's own event builders produce."""

from __future__ import annotations

from typing import Any

from voice_nova.engines.bedrock import events as ev
from voice_nova.engines.bedrock.settings import BedrockSettings
from voice_nova.tools import default_tools
from voice_proto import messages as m
from voice_testkit.nova_emulator.validator import NOVA_1, NOVA_2, ProtocolValidator


def run(model_id: str, sequence: list[dict[str, Any]], *, close: bool = True) -> list[str]:
    validator = ProtocolValidator(model_id, "s")
    for event in sequence:
        validator.check(event)
    if close:
        validator.input_closed()
    return validator.violations


def opening(prompt: str = "p", model_id: str = NOVA_2) -> list[dict[str, Any]]:
    settings = BedrockSettings(model_id=model_id)
    return [
        ev.session_start(settings),
        ev.prompt_start(prompt, settings, default_tools().specs()),
        *ev.text_block(prompt, "SYSTEM", "Be brief.", interactive=False),
    ]


def goodbye(prompt: str = "p") -> list[dict[str, Any]]:
    return [ev.content_end(prompt, "a"), ev.prompt_end(prompt), ev.session_end()]


def test_the_engines_own_sequence_is_legal_on_both_models() -> None:
    history = [m.HistoryTurn(role=m.Role.USER, text="hi"), m.HistoryTurn(role=m.Role.ASSISTANT, text="hello")]
    for model_id in (NOVA_2, NOVA_1):
        sequence = [
            *opening(model_id=model_id),
            *ev.history_blocks("p", history),
            ev.audio_start("p", "a"),
            ev.audio_input("p", "a", bytes(1024)),
            *goodbye(),
        ]
        assert run(model_id, sequence) == []


def test_wrong_order_and_shapes_are_reported() -> None:
    typed = ev.text_block("p", "USER", "typed", interactive=True)[0]
    typed_name = typed["event"]["contentStart"]["contentName"]
    flat = ev.session_start(BedrockSettings())
    flat["event"]["sessionStart"]["endpointingSensitivity"] = "HIGH"
    sequence = [
        ev.audio_input("p", "a", bytes(2)),  # before anything
        flat,
        *opening()[1:],
        ev.audio_start("p", "a"),
        *ev.text_block("p", "USER", "late history", interactive=False),  # history after audio
        typed,  # a block left open, with a 2 KB input
        {"event": {"textInput": {"promptName": "p", "contentName": typed_name, "content": "x" * 2000}}},
        ev.audio_input("p", "a", bytes(2)),  # audio inside an open text block
        *ev.tool_result_block("p", "never-issued", "not json"),
        ev.prompt_end("p"),  # before the audio block closed
    ]
    problems = "\n".join(run(NOVA_2, sequence))
    for expected in (
        "audioInput",
        "flat endpointingSensitivity",
        "history after the audio block opened",
        "textInput of 2000 bytes",
        "audioInput between",
        "unknown toolUseId",
        "not JSON",
        "promptEnd in phase audio",
        "input stream closed in phase",
    ):
        assert expected in problems, expected


def test_nova_2_features_are_refused_on_v1() -> None:
    settings = BedrockSettings(model_id=NOVA_1)
    nova2_start = ev.session_start(BedrockSettings())
    sequence = [
        nova2_start,
        ev.prompt_start("p", settings, []),
        ev.audio_start("p", "a"),
        *ev.text_block("p", "USER", "typed", interactive=True),
        *goodbye(),
    ]
    problems = "\n".join(run(NOVA_1, sequence))
    assert "turnDetectionConfiguration on Nova Sonic v1" in problems
    assert "interactive text on Nova Sonic v1" in problems
