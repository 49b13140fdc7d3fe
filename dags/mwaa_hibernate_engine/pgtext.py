"""Values as PostgreSQL's text output, for databases that are not PostgreSQL (SQLite, local development).

A snapshot file holds every value in the text form `COPY ... TO STDOUT` writes under the transport's
`CANONICAL_SETTINGS` (UTC, ISO dates, shortest exact floats, hex bytea), whichever database wrote it.
This module renders a SQLite value in that form and parses it back into what SQLAlchemy stores on
SQLite, chosen by the column's reflected type:

- timestamps: SQLite holds naive UTC text (`2025-01-01 00:00:00.123456`, what SQLAlchemy writes);
  a `TIMESTAMP` column is Airflow's `UtcDateTime` (PostgreSQL `timestamp with time zone`, text ends
  in `+00`), a `DATETIME` column is a naive one (FAB's users: `timestamp without time zone`);
- booleans: 0/1 <-> `t`/`f`; binary (pickles, compressed blobs): bytes <-> `\\x` hex;
- integers as digits, floats as PostgreSQL's shortest exact form (`1`, `0.1`, `1e+15`, `Infinity`);
- everything else (strings, JSON) is text already.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

Render = Callable[[Any], str | None]
Parse = Callable[[str | None], Any]

# PostgreSQL writes fixed notation for decimal exponents in [-4, 15), scientific outside (d2s.c).
_PG_FIXED_EXPONENTS = range(-4, 15)
_SPECIAL_FLOATS = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
_TRUE = ("t", "true")
_FALSE = ("f", "false")


def render_float(value: float) -> str:
    """`value` as PostgreSQL 12+ prints a float8 with extra_float_digits > 0: the shortest exact digits."""
    text = repr(float(value))
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    sign, digits, exponent = Decimal(_shortest(float(value), text)).as_tuple()
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    lead = len(digits) - 1 + int(exponent)  # decimal exponent of the first digit
    minus = "-" if sign else ""
    if shown == "0":
        return f"{minus}0"
    if lead not in _PG_FIXED_EXPONENTS:
        rest = f".{shown[1:]}" if len(shown) > 1 else ""
        return f"{minus}{shown[0]}{rest}e{'-' if lead < 0 else '+'}{abs(lead):02d}"
    if lead < 0:
        return f"{minus}0.{'0' * (-lead - 1)}{shown}"
    whole, fraction = shown[: lead + 1].ljust(lead + 1, "0"), shown[lead + 1 :]
    return f"{minus}{whole}.{fraction}" if fraction else f"{minus}{whole}"


def _shortest(value: float, text: str) -> str:
    """Python's shortest round-trip digits, unless they sit exactly halfway to a neighbour float.

    Python accepts such a tie (it rounds back to `value`); PostgreSQL's Ryu does not and prints one
    digit more, e.g. 5.4753841098032736e+16 where Python prints 5.475384109803274e+16.
    """
    if not math.isfinite(value) or value == 0:
        return text
    exact = Fraction(value)
    neighbours = (math.nextafter(value, side) for side in (math.inf, -math.inf))
    ties = {(exact + Fraction(n)) / 2 for n in neighbours if math.isfinite(n)}
    candidate, places = text, len(Decimal(text).as_tuple().digits)
    while Fraction(Decimal(candidate)) in ties and places < 17:
        places += 1
        candidate = f"{value:.{places - 1}e}"
    return candidate


def parse_stored_datetime(value: Any) -> datetime:
    """A timestamp as SQLite holds it (text, naive UTC; tolerates `T` and an offset) -> naive UTC datetime."""
    # fromisoformat (3.11+) reads SQLAlchemy's text and PostgreSQL's `+00` alike.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def render_datetime(moment: datetime, *, with_zone: bool) -> str:
    """PostgreSQL's ISO output of a naive UTC datetime: microseconds without trailing zeros, `+00` if zoned."""
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "+00" if with_zone else text


def store_datetime(moment: datetime) -> str:
    """How SQLAlchemy stores a datetime on SQLite (its default storage format), from naive UTC."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )


def _render_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, float):
        return render_float(value)
    return str(value)


def _render_bool(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return "t" if value.lower() in (*_TRUE, "1") else "f"
    return "t" if value else "f"


def _render_integer(value: Any) -> str | None:
    return None if value is None else str(int(value))


def _render_float(value: Any) -> str | None:
    return None if value is None else render_float(float(value))


def _render_binary(value: Any) -> str | None:
    if value is None:
        return None
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return "\\x" + data.hex()


def _datetime_renderer(with_zone: bool) -> Render:
    def render(value: Any) -> str | None:
        return None if value is None else render_datetime(parse_stored_datetime(value), with_zone=with_zone)

    return render


def _parse_text(text: str | None) -> Any:
    return text


def _parse_bool(text: str | None) -> Any:
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return 1
    if lowered in _FALSE:
        return 0
    raise ValueError(f"{text!r} is not a PostgreSQL boolean (t/f)")


def _parse_integer(text: str | None) -> Any:
    return None if text is None else int(text)


def _parse_float(text: str | None) -> Any:
    return None if text is None else float(text)


def _parse_binary(text: str | None) -> Any:
    if text is None:
        return None
    if not text.startswith("\\x"):
        raise ValueError("binary values must be in PostgreSQL's hex form (\\x...)")
    return bytes.fromhex(text[2:])


def _parse_datetime(text: str | None) -> Any:
    return None if text is None else store_datetime(parse_stored_datetime(text))


def converters(column_type: sa.types.TypeEngine) -> tuple[Render, Parse]:
    """(SQLite value -> PostgreSQL text, PostgreSQL text -> SQLite value) for a reflected column type."""
    if isinstance(column_type, sa.Boolean):
        return _render_bool, _parse_bool
    if isinstance(column_type, sa.DateTime):
        # Airflow's UtcDateTime is TIMESTAMP(timezone=True), rendered TIMESTAMP on SQLite; naive columns are DATETIME.
        return _datetime_renderer(isinstance(column_type, sa.TIMESTAMP)), _parse_datetime
    if isinstance(column_type, sa.Integer):
        return _render_integer, _parse_integer
    if isinstance(column_type, sa.Float):
        return _render_float, _parse_float
    if isinstance(column_type, sa.LargeBinary):
        return _render_binary, _parse_binary
    return _render_text, _parse_text
