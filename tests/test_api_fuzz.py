"""API fuzzing: schemathesis generates requests from the server's own OpenAPI
document (/schema/openapi.json) and checks every response against it, on SQLite
and PostgreSQL, logged in as an administrator who is also a voter on an open
election's roll, and for the trustees' operations as a trustee of an election in
its key ceremony (no one may be both administrator and trustee), so the
generated requests get past the role checks into the services.

Checks: no 5xx; status codes, content types, headers and bodies as documented
(every refusal is a documented RFC 9457 problem detail); a 405 names the allowed
methods; schema-invalid requests are refused. Left out: "schema-valid request
accepted" — a request body that fits the schema (its members and their JSON
types, from voting/wire/) is rarely a ballot whose proofs verify, and refusing
it is the point.

Bounded: ``MAX_EXAMPLES`` requests per operation and generation mode, about
15 s per backend here; ``VOTING_TEST_FUZZ_EXAMPLES=500`` fuzzes deeper. Figures
are printed at the end (pytest -s).
"""

from __future__ import annotations

import collections
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks

from tests.http_support import Pilot, start_pilot, two_question_manifest

MAX_EXAMPLES = int(os.environ.get("VOTING_TEST_FUZZ_EXAMPLES", "30"))
OPEN, CEREMONY, DRAFT = "fuzz-open", "fuzz-ceremony", "fuzz-draft"
EXCLUDED_CHECKS = [checks.positive_data_acceptance]
#: The operations only a trustee may call: fuzzed with a trustee's session.
TRUSTEE_PATHS = ("/ceremony", "/ceremony/announcement", "/ceremony/shares", "/ceremony/confirm", "/partial-decryptions")


def fuzz_pilot(pki, data_dir, database_url) -> Pilot:
    """A server with three elections (open, in its key ceremony, draft); A0001 is
    its administrator and on the open election's roll, T0001 a trustee of the other two."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        pilot.open_election(two_question_manifest(OPEN), ["A0001", "E0001"])
        pilot.admin.cast(pilot.admin.prepare_ballot(OPEN, {"days": ["d1"], "tools": ["s0"]}))
        pilot.create(two_question_manifest(CEREMONY), ["E0001"], trustees=["T0001", "T0002"])
        pilot.admin.start_ceremony(CEREMONY)
        pilot.create(two_question_manifest(DRAFT), [], trustees=["T0001", "T0002"])
    except Exception:
        pilot.stop()
        raise
    return pilot


def load_schema(pilot: Pilot):
    schema = schemathesis.openapi.from_url(pilot.url + "/schema/openapi.json")

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """Most of the time a real election, so the services run past the lookup."""
        if not path_parameters or "election_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters["election_id"], OPEN, CEREMONY, DRAFT]).map(
            lambda election_id: {**path_parameters, "election_id": election_id}
        )

    # Logging out would end the fuzzing session (logout is tested in test_sessions_http.py).
    return schema.exclude(path="/api/auth/logout")


@pytest.mark.slow
def test_api_conforms_to_its_schema(pki, data_dir, database_url, backend) -> None:
    pilot = fuzz_pilot(pki, data_dir, database_url)
    started = time.monotonic()
    figures: collections.Counter = collections.Counter()
    failures: list[str] = []
    try:
        headers = {"Authorization": pilot.admin.http.headers["Authorization"]}
        trustee = pilot.login(pilot.trustee_credentials["T0001"])
        trustee_headers = {"Authorization": trustee.http.headers["Authorization"]}
        operations = [result.ok() for result in load_schema(pilot).get_all_operations()]
        assert len(operations) >= 25, [op.label for op in operations]
        for operation in operations:
            as_trustee = operation.path.endswith(TRUSTEE_PATHS)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                )
                def run(case) -> None:  # run in this iteration: the loop's variables are the current ones
                    response = case.call_and_validate(
                        headers=trustee_headers if as_trustee else headers,  # noqa: B023
                        excluded_checks=EXCLUDED_CHECKS,
                        timeout=30,
                    )
                    figures[f"{response.status_code // 100}xx"] += 1
                    figures[mode.value] += 1  # noqa: B023

                try:
                    run()
                except Unsatisfiable:  # nothing in the schema to break (e.g. one string in the path)
                    figures["operations without schema-invalid requests"] += 1
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
                    failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
        assert pilot.server.process.poll() is None, "the server died"
    finally:
        pilot.stop()
    print(
        f"\nAPI fuzzing on {backend}: {len(operations)} operations, {figures['2xx'] + figures['4xx'] + figures['5xx']} "
        f"requests ({figures['positive']} schema-valid, {figures['negative']} schema-invalid), "
        f"{figures['2xx']} answered 2xx, {figures['4xx']} 4xx, {figures['5xx']} 5xx, in {time.monotonic() - started:.0f} s"
    )
    assert not failures, "\n\n".join(failures)
