"""Post Event Grid events to a locally running Function app (`func start`), as Event Grid would.

    python scripts/post_events.py examples/events/*.json [--url http://localhost:7071] [--function on_resource_event]

The Functions host takes Event Grid deliveries on its webhook `/runtime/webhooks/EventGrid?functionName=<name>`;
a delivery is a JSON array of events with the header `aeg-event-type: Notification` (Event Grid schema and
CloudEvents 1.0 events alike; see README "Running the app locally"). Each file is one event (or an array of
them) and is sent as its own delivery. Standard library only, so it runs with any Python 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def delivery(path: Path) -> list[Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return document if isinstance(document, list) else [document]


def post(url: str, function: str, events: list[Any], *, timeout_s: float = 30.0) -> int:
    target = f"{url.rstrip('/')}/runtime/webhooks/EventGrid?" + urllib.parse.urlencode({"functionName": function})
    request = urllib.request.Request(target, data=json.dumps(events).encode("utf-8"), method="POST", headers={
        "Content-Type": "application/json", "aeg-event-type": "Notification"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/post_events.py", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="event JSON files (one event or an array each)")
    parser.add_argument("--url", default="http://localhost:7071", help="the app's base URL (default: %(default)s)")
    parser.add_argument("--function", default="on_resource_event", help="the Event Grid function (%(default)s)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        try:
            events = delivery(path)
        except (OSError, ValueError) as exc:
            print(f"{path}: cannot read the event: {exc}", file=sys.stderr)
            return 1
        try:
            status = post(args.url, args.function, events)
        except OSError as exc:
            print(f"{path}: {args.url} did not answer ({exc}): is `func start` running?", file=sys.stderr)
            return 1
        print(f"{path}: {len(events)} event(s) -> HTTP {status}")
        failed += status >= 300
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
