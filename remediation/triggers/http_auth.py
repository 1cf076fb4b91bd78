"""The authorization level of the HTTP functions, chosen by the deployment (app setting HTTP_AUTH_LEVEL).

The host binds an HTTP function's auth level when it indexes the app, so this one setting is read at
import time (the only one: everything else waits for the first invocation, see runtime.py).

- `function` (the default, and the documented opt-in of infra's httpAuth=functionKeys): every call needs a
  function key.
- `anonymous`: no key, because App Service authentication with Microsoft Entra ID stands in front of the
  app and refuses any request without a valid token before it reaches the code (infra/app/api.bicep sets
  this value only together with authsettingsV2 requireAuthentication). Never set it without that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import azure.functions as func

from remediation.core.errors import ConfigError

HTTP_AUTH_LEVEL_SETTING = "HTTP_AUTH_LEVEL"
_LEVELS = {"function": func.AuthLevel.FUNCTION, "anonymous": func.AuthLevel.ANONYMOUS}


def http_auth_level(env: Mapping[str, str] | None = None) -> func.AuthLevel:
    """The level HTTP_AUTH_LEVEL names; unset or empty means `function`. Raises ConfigError otherwise."""
    values = os.environ if env is None else env
    raw = (values.get(HTTP_AUTH_LEVEL_SETTING) or "").strip().lower() or "function"
    if raw not in _LEVELS:
        raise ConfigError(HTTP_AUTH_LEVEL_SETTING, f"must be 'function' or 'anonymous', not {raw!r}")
    return _LEVELS[raw]


HTTP_AUTH = http_auth_level()
