"""Structured logs: one JSON object per line, naming the service, order, tenant and trace of the work at hand.

The order and tenant come from `log_context` (set where a request or an event names them); the trace id from
the current OpenTelemetry span. Photo bytes, keys and secrets are never arguments of a log call; Pillow and
the Kafka client, which log image metadata and raw records at DEBUG, are held at WARNING.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_order_id: contextvars.ContextVar[str] = contextvars.ContextVar("order_id", default="")
_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="")

FIELDS = "{asctime}{levelname}{name}{message}"
QUIET_LOGGERS = {"PIL": logging.WARNING, "kafka": logging.WARNING, "urllib3": logging.WARNING}


@contextlib.contextmanager
def log_context(order_id: str | None = None, tenant: str | None = None) -> Iterator[None]:
    """Name the order and/or tenant on every line logged inside the block (this thread or task only)."""
    tokens = []
    if order_id is not None:
        tokens.append((_order_id, _order_id.set(order_id)))
    if tenant is not None:
        tokens.append((_tenant, _tenant.set(tenant)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_tenant(tenant: str) -> None:
    """For code that learns the tenant midway (authentication); the request's `log_context` resets it."""
    _tenant.set(tenant)


def set_order(order_id: str) -> None:
    _order_id.set(order_id)


class ContextFilter(logging.Filter):
    """Adds order_id, tenant and trace_id to each record (an explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "order_id", ""):
            record.order_id = _order_id.get()
        if not getattr(record, "tenant", ""):
            record.tenant = _tenant.get()
        span_context = trace.get_current_span().get_span_context()
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else ""
        return True


def json_formatter(service: str) -> JsonFormatter:
    return JsonFormatter(
        FIELDS,
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
        timestamp=False,
    )


def json_handler(service: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter(service))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(service: str, level: int = logging.INFO, ml_libraries: bool = False) -> None:
    """Every record of this process as one JSON line on stderr (`ml_libraries`: diffusers' and transformers' too)."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service)]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings too, as JSON lines instead of bare stderr text
    if ml_libraries:
        _route_library_logs()
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
    # Group joins and partition assignments are rare and say who owns which work: worth a line each.
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)


def _route_library_logs() -> None:
    """diffusers, transformers and huggingface_hub give their loggers a plain-text handler of their own and stop
    propagation; route them through ours instead (and no tqdm bars, which are not log lines)."""
    import importlib
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for library in ("diffusers", "transformers"):
        library_logging = importlib.import_module(f"{library}.utils.logging")
        library_logging.disable_default_handler()
        library_logging.enable_propagation()
        library_logging.disable_progress_bar()


def logging_dict(service: str) -> dict:
    """The same configuration as a `logging.config.dictConfig` dict (Django's LOGGING, gunicorn's logconfig_dict)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": json_formatter, "service": service}},
        "filters": {"context": {"()": ContextFilter}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {
            **{name: {"level": logging.getLevelName(lvl)} for name, lvl in QUIET_LOGGERS.items()},
            "kafka.coordinator": {"level": "INFO"},
        },
    }
