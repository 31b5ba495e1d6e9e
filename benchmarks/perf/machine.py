"""What the performance results record about the machine they ran on."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The processor's model name from /proc/cpuinfo ("?" where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:
        return "?"


def describe() -> dict:
    """Processor, cores, platform and the load average as a measurement starts."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()}
