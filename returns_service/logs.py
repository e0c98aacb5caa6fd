"""How the processes log: lines for people (the default), or one JSON object per line for ops'
tools (`RETURNS_LOG_FORMAT=json`): time, level, logger, message, process, and where the record
is about a return, its ids. Temporal's SDK puts the workflow's or activity's details on the
records of its loggers (`workflow.logger`, `activity.logger`); a return's workflow id is the
return's id. While tracing is on, a line written inside a span carries its `trace_id`. Nothing
personal is logged above debug level (no email, no address)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from returns_service import tracing

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class ReturnIds(logging.Filter):
    """The return's ids on a record Temporal's SDK made about one (or one logged with
    `extra={"return_id": ...}`): `return_id`, `workflow_id`, `run_id`, and the activity's."""

    def filter(self, record: logging.LogRecord) -> bool:
        details: dict[str, Any] = {}
        for name in ("temporal_workflow", "temporal_activity"):
            found = getattr(record, name, None)
            if isinstance(found, dict):
                details.update(found)
        workflow_id = details.get("workflow_id")
        if workflow_id and not getattr(record, "return_id", None):
            record.return_id = workflow_id
        if workflow_id:
            record.workflow_id = workflow_id
            record.run_id = details.get("run_id") or details.get("workflow_run_id")
        if details.get("activity_type"):
            record.activity = details["activity_type"]
        if not getattr(record, "trace_id", None):
            found = tracing.trace_id()
            if found:
                record.trace_id = found
        return True


class Json(JsonFormatter):
    """One object per line, the same field names in every process."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # Temporal's own dicts are summed up in the ids above.
            reserved_attrs=[
                *logging.LogRecord("", 0, "", 0, None, None, None).__dict__.keys(),
                "message",
                "asctime",
                "temporal_workflow",
                "temporal_activity",
            ],
        )

    converter = staticmethod(time.gmtime)  # type: ignore[assignment]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return (
            logging.Formatter.formatTime(self, record, "%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}Z"
        )


def configure(value: str | None = None) -> str:
    """Set up the root logger as `RETURNS_LOG_FORMAT` (or `value`) says; answers the format."""
    chosen = (value if value is not None else os.environ.get("RETURNS_LOG_FORMAT", "")) or "text"
    if chosen not in FORMATS:
        raise SystemExit(f"RETURNS_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}")
    handler = logging.StreamHandler()
    handler.addFilter(ReturnIds())
    if chosen == "json":
        handler.setFormatter(Json())
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    if chosen == "json":
        # The ids are fields of their own: not repeated as a dict after each message.
        from temporalio import activity, workflow

        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("returns_service", "temporalio.workflow", "temporalio.activity"):
        logging.getLogger(name).setLevel(logging.INFO)
    return chosen
