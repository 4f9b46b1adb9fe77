"""The Functions entry point: creates the app and registers the blueprints of `functions/`.

Nothing else belongs here; every trigger lives in its own module under `functions/`.
"""

import azure.functions as func

from functions import blueprints

# Anonymous at the host: every route that does not declare an auth level itself is checked by the app (an API
# key or an Entra ID token, per environment; functions/auth_guard.py), which the host's key check cannot do.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in blueprints():
    app.register_functions(blueprint)
