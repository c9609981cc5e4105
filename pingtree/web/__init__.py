"""Everything that answers HTTP. app.py builds the router, every part from the config, and is the
only place that does; the routes: the seller API (sellers.py, with lead_body.py and
admission.py), the operator's (operators.py, deliveries_admin.py), both authenticated by auth.py
and answering JSON through responses.py; the OpenAPI document (openapi.py), config reloads
(reloading.py) and the server (serving.py). keys.py holds the app's typed state."""
