"""argparse value types and the help formatter the command-line fronts share."""

from __future__ import annotations

import argparse
import dataclasses
import inspect


def default_of(owner, name: str):
    """The default of field `name` of an options dataclass (or of parameter `name` of a function), so that a
    flag shows and uses the value written once where the library defines it."""
    if dataclasses.is_dataclass(owner):
        for field in dataclasses.fields(owner):
            if field.name == name:
                if field.default is not dataclasses.MISSING:
                    return field.default
                if field.default_factory is not dataclasses.MISSING:
                    return field.default_factory()
                raise ValueError(f"{owner.__name__}.{name} has no default")
        raise ValueError(f"{owner.__name__} has no field {name!r}")
    parameter = inspect.signature(owner).parameters[name]
    if parameter.default is inspect.Parameter.empty:
        raise ValueError(f"{owner.__name__}({name}) has no default")
    return parameter.default


def shown(value) -> str:
    """A default as a user types it: `20,10,5` for a tuple, `''` for an empty one."""
    if isinstance(value, (tuple, list)):
        return ",".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value) or "''"
    return str(value)


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in --help, written as a user types them, and left out where there is nothing to show
    (no default, a switch that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default is argparse.SUPPRESS or "%(default)" in text
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._CountAction))):
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        if action.nargs in ("+", "*") and isinstance(default, (tuple, list)) and not default:
            return text  # none given: nothing to show (a comma-list flag shows '', the way to give none)
        return f"{text} (default: {shown(default).replace('%', '%%')})"


def comma_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def count_or_all(value: str) -> int | None:
    """A count, or None for 'all'."""
    if value.strip().lower() == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'all', not {value!r}") from None


def number_list(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give comma-separated numbers") from None


def int_list(value: str) -> tuple[int, ...]:
    return tuple(int(number) for number in number_list(value))


def string_to_bool(value: str | bool) -> bool:
    """`--flag true/false` as HfArgumentParser reads it, so every entry point spells booleans alike."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r}: give true or false")
