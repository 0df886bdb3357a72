"""The bus contract of the voice platform and the small runtime every service shares."""

from . import channels, messages
from .bus import Bus, BusError, BusUnavailable, CredentialsRefused, Delivery, NoResponders, RequestTimeout
from .channels import Channel, InvalidSessionId, ProtoDecodeError, check_session_id

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "Channel",
    "CredentialsRefused",
    "Delivery",
    "InvalidSessionId",
    "NoResponders",
    "ProtoDecodeError",
    "RequestTimeout",
    "channels",
    "check_session_id",
    "messages",
]
