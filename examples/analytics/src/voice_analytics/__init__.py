"""An example subscriber: per-session statistics from the VOICE_RECORDS stream, served over HTTP."""
