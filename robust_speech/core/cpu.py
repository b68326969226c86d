"""What the kernel says of this CPU (/proc/cpuinfo): its model name and its feature flags. Read by the machine
facts every measurement carries and by the bf16 detection, so both see the same CPU."""

from __future__ import annotations

CPUINFO = "/proc/cpuinfo"


def cpu_model_and_flags(path: str | None = None) -> tuple[str | None, list[str]]:
    """The first processor's "model name" and "flags"; (None, []) where the file is missing (not Linux)."""
    try:
        with open(path or CPUINFO, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        return None, []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return model, flags
