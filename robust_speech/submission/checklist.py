"""The checklist's lines and report: each line ✓ or ✗ with its one-line fix, or a warning that never fails."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PASS, FAIL = "✓", "✗"
WARN = "!"


@dataclass(frozen=True)
class CheckLine:
    """One item of the checklist: `ok`, what was checked, the one-line fix, and details (a diff, a list)."""

    ok: bool
    what: str
    fix: str = ""
    detail: str = ""
    warning: bool = False  # listed as a warning: never fails the check

    def format(self) -> str:
        mark = WARN if self.warning else (PASS if self.ok else FAIL)
        lines = [f"{mark} {self.what}"]
        if self.fix and (not self.ok or self.warning):
            lines.append(f"    fix: {self.fix}")
        lines.extend(f"    {line}" for line in self.detail.splitlines())
        return "\n".join(lines)


def passed(what: str, detail: str = "") -> CheckLine:
    return CheckLine(True, what, detail=detail)


def failed(what: str, fix: str, detail: str = "") -> CheckLine:
    return CheckLine(False, what, fix, detail)


def warned(what: str, fix: str = "", detail: str = "") -> CheckLine:
    return CheckLine(True, what, fix, detail, warning=True)


@dataclass
class CheckReport:
    folder: Path
    lines: list[CheckLine] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckLine]:
        return [line for line in self.lines if not line.ok]

    @property
    def warnings(self) -> list[CheckLine]:
        return [line for line in self.lines if line.warning]

    def format(self) -> str:
        checked = [line.format() for line in self.lines if not line.warning]
        out = [f"check-submission {self.folder}", *checked]
        if self.warnings:
            out += ["", f"warnings ({len(self.warnings)}, they do not fail the check):"]
            out += [line.format() for line in self.warnings]
        verdict = (f"{len(self.failures)} of {len(checked)} checks failed" if self.failures
                   else f"all {len(checked)} checks passed")
        return "\n".join([*out, "", verdict])


def relative(folder: Path, path: Path) -> str:
    return os.path.relpath(path, folder)
