"""Optional result events on an Event Grid custom topic (RESULT_TOPIC_ENDPOINT).

Other automation (tickets, chat) can subscribe to outcomes without polling the audit table. Publishing is
a courtesy: a failure is logged and never fails the remediation that already happened.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

EVENT_TYPE = "AksEgressRemediation.RemediationCompleted"


class ResultPublisher:
    def __init__(self, endpoint: str | None) -> None:
        self._endpoint = endpoint
        self._client: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self._endpoint)

    def publish(self, subject: str, data: Mapping[str, Any]) -> None:
        if not self._endpoint:
            return
        try:
            # Imported lazily: most deployments never configure a result topic.
            from azure.eventgrid import EventGridEvent, EventGridPublisherClient

            from remediation.azure.credentials import default_credential

            if self._client is None:
                self._client = EventGridPublisherClient(self._endpoint, default_credential())
            self._client.send([EventGridEvent(subject=subject, event_type=EVENT_TYPE, data=dict(data),
                                              data_version="1.0")])
        except Exception as exc:  # any failure here must not fail the run: it is only a notification
            log.warning("result event for %s not published to %s: %s", subject, self._endpoint, exc,
                        extra={"target": subject, "action": "publish-result"})
