"""Which stream failures are retried, and how often (engines/bedrock/errors.py)."""

from __future__ import annotations

import pytest
from aws_sdk_bedrock_runtime import models as bedrock
from smithy_core.exceptions import CallError
from voice_nova.engines.bedrock.errors import RetryBudget, StreamEnded, StreamStalled, classify


@pytest.mark.parametrize(
    ("error", "retryable", "code"),
    [
        (bedrock.ThrottlingException(message="slow down"), True, "throttled"),
        (bedrock.ServiceQuotaExceededException(message="quota"), True, "throttled"),
        (bedrock.ModelStreamErrorException(message="x"), True, "model_error"),
        (bedrock.InternalServerException(message="x"), True, "model_error"),
        (bedrock.ServiceUnavailableException(message="x"), True, "model_error"),
        (bedrock.ModelTimeoutException(message="x"), True, "model_timeout"),
        (
            bedrock.ValidationException(message="System instability detected. Please retry."),
            True,
            "model_unstable",
        ),
        (
            bedrock.ValidationException(message="Invalid input request, please fix your input"),
            False,
            "invalid_input",
        ),
        (bedrock.AccessDeniedException(message="no"), False, "access_denied"),
        (bedrock.ResourceNotFoundException(message="no such model"), False, "model_not_found"),
        (StreamEnded("gone"), True, "stream_ended"),
        (StreamStalled("stuck"), True, "stream_stalled"),
        (OSError("Failed to read from stream."), True, "connection_error"),
        (CallError(message="Unknown error status: 404", fault="client"), False, "bad_request"),
    ],
)
def test_each_failure_is_retried_or_ends_the_session(error: Exception, retryable: bool, code: str) -> None:
    failure = classify(error)
    assert (failure.retryable, failure.code) == (retryable, code)
    assert failure.message


def test_retries_are_bounded_with_growing_jittered_backoff() -> None:
    budget = RetryBudget(max_retries=3, base_delay=1.0, max_delay=3.0)
    delays = [budget.next_delay() for _ in range(4)]
    assert delays[3] is None
    first, second, third = (d for d in delays[:3] if d is not None)
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0
    assert 1.5 <= third <= 3.0
    budget.reset()
    assert budget.next_delay() is not None
