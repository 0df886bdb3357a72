"""The domain: one session's conversation laid out on a time line as the person heard it.

Times are seconds on the NATS server's clock (when JetStream stored each message), so audio from
the edge, audio from whichever worker owns the session, and the worker's events share one clock
across handovers and resumes. Placement follows what the client does:

- the microphone (left channel, 16 kHz) streams in real time: a frame goes right after the previous
  one unless it arrived later than that by more than ``gap_tolerance`` (the user was not sending:
  silence);
- the assistant (right channel, 24 kHz) arrives in bursts faster than real time and the client's
  player queues it: a chunk plays when it arrived or when the previous one finished, whichever is
  later;
- an ``interrupted`` event is the client's flush (the edge sends ``stop`` when it sees it): what
  was queued past that moment is cut, and later audio of that turn is dropped, as the edge drops it.

The timeline holds the audio at its own rates; :meth:`Timeline.render` makes the stereo 24 kHz
PCM an encoder takes, and :meth:`Timeline.index` the turns with their offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from voice_proto import messages as m

#: The rate of the rendered recording (the assistant's; the user's 16 kHz is resampled to it).
RATE = m.OUTPUT_RATE
_BYTES_PER_SAMPLE = 2


@dataclass
class Turn:
    """One side of one turn, for the index: seconds from the start of the recording."""

    turn_id: int
    role: m.Role
    start: float | None = None
    end: float | None = None
    text: str = ""
    interrupted: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "turnId": self.turn_id,
            "role": self.role.value.lower(),
            "start": round(self.start or 0.0, 3),
            "end": round(self.end if self.end is not None else (self.start or 0.0), 3),
            "text": self.text,
            "interrupted": self.interrupted,
        }


@dataclass
class _Track:
    """One channel: PCM16 chunks at their sample offsets, and where the next chunk would go."""

    rate: int
    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    #: Sample offset just past the last chunk (where contiguous audio continues).
    cursor: int = 0

    def place(self, at_sample: int, pcm: bytes) -> tuple[int, int]:
        """Put ``pcm`` at ``at_sample``; returns its first and end sample."""
        self.chunks.append((at_sample, pcm))
        end = at_sample + len(pcm) // _BYTES_PER_SAMPLE
        self.cursor = max(self.cursor, end)
        return at_sample, end

    def cut(self, at_sample: int) -> None:
        """Drop every sample at or after ``at_sample``."""
        kept: list[tuple[int, bytes]] = []
        for start, pcm in self.chunks:
            if start >= at_sample:
                continue
            end = start + len(pcm) // _BYTES_PER_SAMPLE
            if end > at_sample:
                pcm = pcm[: (at_sample - start) * _BYTES_PER_SAMPLE]
            kept.append((start, pcm))
        self.chunks = kept
        self.cursor = min(self.cursor, at_sample)

    def samples(self, length: int) -> npt.NDArray[np.int16]:
        out = np.zeros(length, dtype=np.int16)
        for start, pcm in self.chunks:
            data = np.frombuffer(pcm, dtype="<i2")[: max(0, length - start)]
            out[start : start + len(data)] = data
        return out


class Timeline:
    """What one session sounded like. Feed it the session's messages in stream order (the audio
    stream's and the records stream's; the two streams' relative order does not matter)."""

    def __init__(self, session_id: str, *, gap_tolerance: float = 0.25) -> None:
        self.session_id = session_id
        self.gap_tolerance = gap_tolerance
        self.origin: float | None = None
        self.principal = ""
        #: Lifecycle ``started`` (or ``handed_over``/``resumed``) seen: the session was authorised.
        self.authorised = False
        #: False when the session opted out of recording (lifecycle ``recorded=False``).
        self.recorded = True
        self.started_at: float | None = None
        #: Server times (seconds) the records stream stored the session's start and its end: the
        #: recording spans them (the audio stream's first message comes a little after the start).
        self.opened_at: float | None = None
        self.ended_at: float | None = None
        self.last_seen: float = 0.0
        self._user = _Track(m.INPUT_RATE)
        self._assistant = _Track(RATE)
        self._turns: dict[tuple[int, m.Role], Turn] = {}
        self._interrupted: set[int] = set()

    # --- feeding ---------------------------------------------------------------------------

    def _seconds(self, at: float) -> float:
        if self.origin is None:
            self.origin = at
        self.last_seen = max(self.last_seen, at)
        return at - self.origin

    def _turn(self, turn_id: int, role: m.Role) -> Turn:
        return self._turns.setdefault((turn_id, role), Turn(turn_id, role))

    def user_audio(self, at: float, frame: m.AudioIn) -> None:
        track = self._user
        arrived = round(self._seconds(at) * track.rate) - len(frame.pcm) // _BYTES_PER_SAMPLE
        late = arrived - track.cursor > self.gap_tolerance * track.rate
        track.place(arrived if late else track.cursor, frame.pcm)

    def assistant_audio(self, at: float, chunk: m.AudioOut) -> None:
        if chunk.turn_id in self._interrupted:
            return  # on its way when the client flushed: the client never played it
        pcm = chunk.pcm if chunk.rate == RATE else _resample(chunk.pcm, chunk.rate, RATE)
        track = self._assistant
        start, end = track.place(max(track.cursor, round(self._seconds(at) * RATE)), pcm)
        turn = self._turn(chunk.turn_id, m.Role.ASSISTANT)
        if turn.start is None:
            turn.start = start / RATE
        turn.end = max(turn.end or 0.0, end / RATE)

    def event(self, at: float, event: m.OutEvent) -> None:
        seconds = self._seconds(at)
        match event:
            case m.Interrupted(turn_id=turn_id):
                self._interrupted.add(turn_id)
                self._assistant.cut(round(seconds * RATE))
                turn = self._turn(turn_id, m.Role.ASSISTANT)
                turn.interrupted = True
                if turn.end is not None:
                    turn.end = min(turn.end, seconds)
            case m.TurnStarted(turn_id=turn_id, role=role) if role is m.Role.USER:
                turn = self._turn(turn_id, role)
                if turn.start is None:
                    # The engine confirms speech a little after it began: start at the audio.
                    turn.start = max(0.0, seconds - 0.5)
            case m.TurnEnded(turn_id=turn_id, role=role, reason=reason):
                turn = self._turn(turn_id, role)
                if role is m.Role.USER:
                    turn.end = max(turn.end or 0.0, seconds)
                elif reason == m.TurnEndReason.INTERRUPTED:
                    turn.interrupted = True
            case _:
                pass

    def transcript(self, transcript: m.Transcript) -> None:
        if transcript.stage != m.Stage.FINAL:
            return
        turn = self._turn(transcript.turn_id, transcript.role)
        turn.text = f"{turn.text} {transcript.text}".strip() if turn.text else transcript.text
        turn.interrupted = turn.interrupted or transcript.interrupted

    def lifecycle(self, at: float, event: m.Lifecycle) -> None:
        """``at``: when the records stream stored it (the server's clock, as the audio's)."""
        if event.principal:
            self.principal = event.principal
        if event.kind in (m.LifecycleKind.STARTED, m.LifecycleKind.HANDED_OVER, m.LifecycleKind.RESUMED):
            self.authorised = True
            if self.started_at is None:
                self.started_at = event.at
            if event.kind is m.LifecycleKind.STARTED and self.opened_at is None:
                self.opened_at = at
        if event.kind is m.LifecycleKind.ENDED:
            self.ended_at = at
        if not event.recorded:
            self.recorded = False

    # --- results ---------------------------------------------------------------------------

    @property
    def has_audio(self) -> bool:
        return bool(self._user.chunks or self._assistant.chunks)

    def lead(self) -> float:
        """Seconds from the session's start to its first audio (silence the recording opens with)."""
        if self.origin is None or self.opened_at is None:
            return 0.0
        return max(0.0, self.origin - self.opened_at)

    def _audio_end(self) -> float:
        """Seconds from the first audio to the end of the last, or to the session's end if later."""
        end = max(self._user.cursor / self._user.rate, self._assistant.cursor / RATE)
        if self.ended_at is not None and self.origin is not None:
            end = max(end, self.ended_at - self.origin)
        return end

    def duration(self) -> float:
        return self.lead() + self._audio_end()

    def render(self) -> npt.NDArray[np.int16]:
        """Stereo PCM16 at 24 kHz, shape (2, samples): the user left, the assistant right."""
        span = round(self._audio_end() * RATE)
        user = self._user.samples(round(self._audio_end() * self._user.rate))
        left = _resample_array(user, self._user.rate, RATE)[:span]
        left = np.pad(left, (0, span - len(left)))
        right = self._assistant.samples(span)
        lead = round(self.lead() * RATE)
        return np.pad(np.stack([left, right]), ((0, 0), (lead, 0)))

    def index(self) -> list[dict[str, object]]:
        """The turns in the order they started, with offsets in seconds from the recording's start."""
        turns = [t for t in self._turns.values() if t.start is not None or t.text]
        for turn in turns:
            if turn.start is None:
                turn.start = turn.end or 0.0
        turns.sort(key=lambda t: (t.start or 0.0, t.turn_id, t.role is m.Role.ASSISTANT))
        lead = self.lead()
        shifted = [
            Turn(
                t.turn_id,
                t.role,
                (t.start or 0.0) + lead,
                None if t.end is None else t.end + lead,
                t.text,
                t.interrupted,
            )
            for t in turns
        ]
        return [turn.as_json() for turn in shifted]


def _resample_array(samples: npt.NDArray[np.int16], rate: int, to: int) -> npt.NDArray[np.int16]:
    if rate == to or len(samples) == 0:
        return samples
    import av  # heavy; only when rendering

    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to)
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)


def _resample(pcm: bytes, rate: int, to: int) -> bytes:
    return _resample_array(np.frombuffer(pcm, dtype="<i2"), rate, to).astype("<i2").tobytes()
