"""What a failure of the model stream means for the session: reopen the stream, or give up.

Transient failures (throttling, model stream errors, internal/unavailable, the "System
instability" validation message, the model's own timeout, a stream that ended or stopped
accepting input) reopen the stream with the conversation so far, a bounded number of times with
backoff. Failures that no retry can fix (access denied, unknown model, input we got wrong) end
the session with an error the client is shown.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aws_sdk_bedrock_runtime import models as bedrock
from smithy_core.exceptions import CallError

#: Substrings of ValidationException messages that are the service's trouble, not ours.
_TRANSIENT_VALIDATION = ("System instability", "InternalErrorCode=531", "RST_STREAM")

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    bedrock.ThrottlingException,
    bedrock.ServiceQuotaExceededException,
    bedrock.ModelStreamErrorException,
    bedrock.InternalServerException,
    bedrock.ServiceUnavailableException,
    bedrock.ModelNotReadyException,
    bedrock.ModelErrorException,
    bedrock.ModelTimeoutException,
)


class StreamEnded(Exception):
    """The service ended the response stream while the session still needed it."""


class StreamStalled(Exception):
    """The stream stopped taking input or did not answer in time: taken for dead."""


@dataclass(frozen=True)
class Failure:
    retryable: bool
    #: Stable code for the client's error event and the span (``throttled``, ``access_denied``...).
    code: str
    message: str


def classify(exc: BaseException) -> Failure:
    message = str(exc) or type(exc).__name__
    match exc:
        case bedrock.AccessDeniedException():
            return Failure(False, "access_denied", f"Bedrock refused access: {message}")
        case bedrock.ResourceNotFoundException():
            return Failure(False, "model_not_found", f"the model was not found: {message}")
        case bedrock.ValidationException() if any(s in message for s in _TRANSIENT_VALIDATION):
            return Failure(True, "model_unstable", message)
        case bedrock.ValidationException():
            return Failure(False, "invalid_input", f"the model refused our input: {message}")
        case bedrock.ThrottlingException() | bedrock.ServiceQuotaExceededException():
            return Failure(True, "throttled", message)
        case bedrock.ModelTimeoutException():
            return Failure(True, "model_timeout", message)
        case _ if isinstance(exc, _TRANSIENT_TYPES):
            return Failure(True, "model_error", message)
        case StreamEnded():
            return Failure(True, "stream_ended", message)
        case StreamStalled() | TimeoutError():
            return Failure(True, "stream_stalled", message)
        case CallError(fault="client"):
            # An unmodelled 4xx: the request itself is wrong, and resending it will not help.
            return Failure(False, "bad_request", f"Bedrock rejected the request: {message}")
    # Connection trouble (awscrt, OSError, a corrupt frame, an unmodelled server error): the
    # kind of thing a fresh stream gets past.
    return Failure(True, "connection_error", f"{type(exc).__name__}: {message}")


@dataclass
class RetryBudget:
    """Bounded reopenings in a row, with exponential backoff and full jitter."""

    max_retries: int
    base_delay: float
    max_delay: float
    used: int = 0

    def next_delay(self) -> float | None:
        """Seconds to wait before the next reopening, or None when the budget is spent."""
        if self.used >= self.max_retries:
            return None
        self.used += 1
        ceiling = min(self.max_delay, self.base_delay * 2 ** (self.used - 1))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.used = 0
