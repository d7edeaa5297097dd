"""Load tests: Locust users doing the real voting flow over HTTP, and one command
(``python -m loadtests.run``) that runs a whole load test with reconciliation.
See docs/loadtest.md."""
