"""Structured log records for the Function app.

Every record about a remediation carries the same `extra` keys (`target`, `correlationId`, `action`, plus
any named fields), so Application Insights shows them as customDimensions and one query follows a target
from the event to the write. Messages use %-style arguments, never f-strings: the logging module formats
them only when the record is emitted, and the unformatted template groups identical messages.
"""

from __future__ import annotations

import logging
from typing import Any

# LogRecord attributes that `extra` must not overwrite (logging raises KeyError for some of them).
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def context(*, target: object = None, correlation_id: str | None = None, action: str | None = None,
            **fields: Any) -> dict[str, Any]:
    """The `extra` mapping of one record: the standard keys plus named fields (None values dropped)."""
    extra: dict[str, Any] = {}
    if target is not None:
        extra["target"] = str(target)
    if correlation_id is not None:
        extra["correlationId"] = correlation_id
    if action is not None:
        extra["action"] = action
    for key, value in fields.items():
        if value is None:
            continue
        # A clash with a LogRecord attribute would raise inside logging; keep the field under another name.
        extra[f"field_{key}" if key in _RESERVED else key] = value
    return extra


def log_action(logger: logging.Logger, level: int, message: str, *args: object, target: object = None,
               correlation_id: str | None = None, action: str | None = None, **fields: Any) -> None:
    """Log what happened and why, with the structured context attached.

    `message` is a %-template and `args` its values, exactly as for `logger.log`.
    """
    logger.log(level, message, *args,
               extra=context(target=target, correlation_id=correlation_id, action=action, **fields))
