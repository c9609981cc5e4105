"""Everything that answers HTTP: the seller API (sellers.py, lead_body.py, admission.py), the
operator's routes (deliveries_admin.py), the OpenAPI document, config reloads and the server
(serving.py). The app is built in one place, which wires every other part."""
