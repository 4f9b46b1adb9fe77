"""The Functions entry point: creates the app and registers the blueprints of `functions/`.

Nothing else belongs here; every trigger lives in its own module under `functions/`.
"""

import azure.functions as func

from functions import blueprints

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in blueprints():
    app.register_functions(blueprint)
