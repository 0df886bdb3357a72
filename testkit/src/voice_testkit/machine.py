"""What a benchmark prints beside each figure on a shared machine."""

from __future__ import annotations

import os


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as ``uptime`` prints them (e.g. ``"0.42 0.61 0.70"``)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
