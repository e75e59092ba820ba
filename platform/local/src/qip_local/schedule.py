"""The local stand-in for an EventBridge schedule: invoke a function every few seconds."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """The event an EventBridge schedule delivers to its target."""
    return {
        "version": "0",
        "id": "local",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [rule_arn],
        "detail": {},
    }


class Schedule:
    """Invokes `function_name` through Lambda every `interval` seconds until stopped."""

    def __init__(self, lambda_client: Any, function_name: str, interval: float, rule: str) -> None:
        self.lambda_client = lambda_client
        self.function_name = function_name
        self.interval = interval
        self.rule_arn = f"arn:aws:events:us-east-1:123456789012:rule/{rule}"
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{rule}", daemon=True)

    def start(self) -> None:
        """Start the timer thread (the first run is one interval from now, as in AWS)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer and wait for a run in progress."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> dict[str, Any]:
        """Invoke the function now; its answer (or the error payload Lambda returned)."""
        response = self.lambda_client.invoke(
            FunctionName=self.function_name,
            Payload=json.dumps(scheduled_event(self.rule_arn)).encode(),
        )
        self.runs += 1
        answer: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        return answer

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a failed run is logged; the next tick tries again, as in AWS
                logger.exception("scheduled invocation of %s failed", self.function_name)
