"""The Azure Functions entry point (Python v2 model): composition only.

Each trigger lives in `remediation/triggers/` as a Blueprint. Importing this module reads no setting and
opens no connection (the host imports it to index the functions); the first invocation does that.
"""

import azure.functions as func

from remediation.triggers import eventgrid, eventgrid_queue, http, queue, timer

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(eventgrid.bp)
app.register_functions(eventgrid_queue.bp)
app.register_functions(queue.bp)
app.register_functions(timer.bp)
app.register_functions(http.bp)
