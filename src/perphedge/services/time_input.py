"""Times given to the API (``from``/``to``): ISO 8601 (UTC if no zone) or Unix milliseconds."""

from __future__ import annotations

from datetime import UTC

from dateutil import parser as dateparser

from perphedge.errors import InputError


def parse_time_ms(text: str | None, field: str) -> int | None:
    """``text`` as Unix milliseconds; None stays None.

    >>> parse_time_ms("2024-01-01", "from"), parse_time_ms("1704067200000", "to")
    (1704067200000, 1704067200000)
    """
    if text is None or not text.strip():
        return None
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = dateparser.isoparse(value)
    except ValueError:
        raise InputError(field, "an ISO 8601 time or Unix milliseconds", text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
