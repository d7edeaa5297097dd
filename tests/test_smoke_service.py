"""A short whole election over real HTTP: the quick check that the service works."""

from __future__ import annotations

from tests.support import manifest, roll_csv, start_server
from voting.client import Client, trustee_ceremony_step, trustee_decrypt


def test_small_election_end_to_end(pki, data_dir, database_url):
    admin_cred = pki.enroll("A0001")
    trustees = {t: pki.enroll(t) for t in ("T0001", "T0002", "T0003")}
    voters = {f"E{i:04d}": pki.enroll(f"E{i:04d}") for i in range(5)}  # the default minimum to tally
    server = start_server(data_dir, database_url, admins=["A0001"])
    try:
        admin = Client(server.url)
        admin.login(admin_cred)
        admin.create_election(manifest(), list(trustees), 2)
        assert admin.import_roll("survey-2026", roll_csv(list(voters)))["total"] == 5
        admin.start_ceremony("survey-2026")
        clients = {t: Client(server.url) for t in trustees}
        for t, c in clients.items():
            c.login(trustees[t])
        for _ in range(4):
            for t, c in clients.items():
                trustee_ceremony_step(c, "survey-2026", data_dir / f"{t}.json")
        admin.open("survey-2026")
        expected = [0] * 5
        for i, credential in enumerate(voters.values()):
            voter = Client(server.url)
            voter.login(credential)
            receipt = voter.cast(voter.prepare_ballot("survey-2026", {"q1": [f"o{i % 5}"]}))
            expected[i % 5] += 1
            assert voter.check_receipt(receipt)["leaf_index"] == receipt["leaf_index"]
        admin.close_election("survey-2026")
        for t in ("T0001", "T0003"):
            trustee_decrypt(clients[t], "survey-2026", data_dir / f"{t}.json")
        result = admin.tally("survey-2026")
        assert [o["count"] for o in result["questions"][0]["options"]] == expected
    finally:
        server.stop()
