"""Keep private keys out of discord.py's debug logs.

At DEBUG level discord.py logs every REST request body and response
("POST .../channels/<dm>/messages with {...} has returned 200") and every
gateway event, which would put a DM's private key in the log. This filter
blanks those payload arguments whatever level the operator runs at; the
method, URL and status stay, so the logs stay useful.
"""

from __future__ import annotations

import logging

REDACTED = "<payload redacted>"

# logger name -> {message format -> index of the payload argument}
_PAYLOAD_ARGS: dict[str, dict[str, int]] = {
    "discord.http": {"%s %s with %s has returned %s": 2, "%s %s has received %s": 2},
    "discord.gateway": {"For Shard ID %s: WebSocket Event: %s": 1, "Received %s": 0, "Received error %s": 0},
    "discord.webhook.async_": {},
}


class PayloadRedactor(logging.Filter):
    """A logging filter that blanks the payload argument of discord.py's request and gateway log lines
    (_PAYLOAD_ARGS)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redacts the record in place when its message is a known payload line; always True (the line is kept)."""
        index = _PAYLOAD_ARGS.get(record.name, {}).get(str(record.msg))
        if index is not None and isinstance(record.args, tuple) and len(record.args) > index:
            args = list(record.args)
            args[index] = REDACTED
            record.args = tuple(args)
        return True


_REDACTOR = PayloadRedactor()


def install_log_redaction() -> None:
    """Idempotent: attach the redactor to the discord.py loggers that log payloads."""
    for name in _PAYLOAD_ARGS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
