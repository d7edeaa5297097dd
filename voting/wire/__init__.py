"""The one definition of every message the service and its clients exchange:
msgspec Structs for the API's request and response bodies, from which the
OpenAPI document is generated. Imports nothing of the server, so the clients
and the verifier can use it in the base install."""
