"""The API's bodies are typed (voting/wire/): the OpenAPI document describes
every request and success response body, and a typed body is read with
msgspec's strict rules, so nothing the service refused before is accepted
(Litestar's own conversion would take ``"3"`` for ``3``)."""

from __future__ import annotations

import msgspec
import pytest
from litestar.exceptions import ClientException

from crypto import threshold as th
from crypto.credentials import sign_announcement, sign_endorsement
from crypto.elgamal import encrypt
from crypto.group import Scalar
from tests.support import make_pki
from voting.app import create_app
from voting.errors import ServiceError
from voting.request_body import Body, StrictBody, body
from voting.settings import Settings
from voting.wire.ballots import CastRequest
from voting.wire.board import CosignRequest
from voting.wire.elections import AnnouncementRequest, ConfirmRequest, ElectionStatus, ElectionView, EncryptedShare
from voting.wire.tally import PartialDecryptionRequest

#: Bodies that are not JSON documents: the roll's CSV upload and the record's zip downloads.
NOT_JSON = ("text/csv", "application/zip", "text/html")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    return app.openapi_schema.to_schema()


def _bodies(openapi: dict) -> list[tuple[str, dict]]:
    """(where, schema) of every JSON request body and success response body."""
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                if media not in NOT_JSON:
                    found.append((f"{method.upper()} {path} request", content.get("schema", {})))
            for status, response in operation["responses"].items():
                for media, content in (response.get("content") or {}).items():
                    if status.startswith("2") and media not in NOT_JSON:
                        found.append((f"{method.upper()} {path} {status}", content.get("schema", {})))
    return found


def _described(schema: dict, components: dict) -> bool:
    """An object with named members, a list of such, or a union of them: not a bare ``{"type": "object"}``."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "oneOf" in schema or "anyOf" in schema:
        return all(_described(s, components) for s in schema.get("oneOf", schema.get("anyOf")))
    if schema.get("type") == "array":
        return _described(schema.get("items", {}), components)
    return schema.get("type") == "object" and bool(schema.get("properties"))


def test_every_request_and_response_body_has_a_schema(openapi):
    components = openapi["components"]["schemas"]
    bodies = _bodies(openapi)
    requests = [where for where, _ in bodies if where.endswith("request")]
    assert len(requests) >= 14 and len(bodies) - len(requests) >= 45, "the operations are not all in the document"
    bare = [where for where, schema in bodies if not _described(schema, components)]
    assert bare == [], f"bodies without a schema: {bare}"


def test_a_request_schema_names_its_members_and_types(openapi):
    components = openapi["components"]["schemas"]
    cosign = components["CosignRequest"]
    assert cosign["required"] == ["cosignature", "size"]
    assert cosign["properties"]["size"] == {"type": "integer", "minimum": 1.0, "maximum": float(2**53 - 1)}
    shares = openapi["paths"]["/api/elections/{election_id}/ceremony/shares"]["post"]["requestBody"]
    assert shares["content"]["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/EncryptedShare"}


GOOD_COSIGN = {"size": 2, "cosignature": {"witness_key": "ab" * 32, "time_ms": 5, "signature": "cd" * 64}}


def _body(document: object, target: object = CosignRequest) -> Body:
    return Body(document, target, ("send it right", "malformed_request", 400))


def test_a_typed_body_parses_into_its_struct():
    parsed = _body(GOOD_COSIGN).parse()
    assert isinstance(parsed, CosignRequest)
    assert (parsed.size, parsed.cosignature.time_ms) == (2, 5)
    shares = _body([{"sender": 1, "recipient": 2, "ephemeral_public_key": "aa", "ciphertext": "bb"}], list[EncryptedShare])
    assert shares.parse() == [EncryptedShare(1, 2, "aa", "bb")]


@pytest.mark.parametrize(
    "change",
    [
        {"size": "2"},  # lenient conversion would make it 2
        {"size": 2.0},
        {"size": True},
        {"size": 0},
        {"size": 2**53},
        {"extra": 1},
        {"cosignature": {**GOOD_COSIGN["cosignature"], "time_ms": "5"}},
        {"cosignature": {**GOOD_COSIGN["cosignature"], "witness_key": "AB" * 32}},
        {"cosignature": None},
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_with_the_operations_code(change):
    with pytest.raises(ServiceError) as refused:
        _body({**GOOD_COSIGN, **change}).parse()
    assert (refused.value.status, refused.value.code) == (400, "malformed_request")
    assert refused.value.detail.startswith("send it right: ")


def test_a_missing_member_is_refused():
    with pytest.raises(ServiceError, match="missing required field `signature`"):
        _body({"ballot": {}}, CastRequest).parse()


@pytest.mark.parametrize("document", [None, [], "ballot", 3, [GOOD_COSIGN]])
def test_a_body_that_is_not_an_object_is_a_malformed_request(document):
    with pytest.raises(ClientException):
        _body(document).parse()
    with pytest.raises(ClientException):
        _ = _body(document).document


def test_a_list_body_must_be_a_json_array():
    with pytest.raises(ClientException):
        _ = _body({"sender": 1}, list[EncryptedShare]).document


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b'{"size": NaN}', b"[" * 100_000 + b"]" * 100_000, b"1e400"])
def test_a_body_that_is_not_json_is_a_malformed_request(raw):
    dto = body(CosignRequest, "send it right")
    assert issubclass(dto, StrictBody)
    with pytest.raises(ClientException):
        dto.decode_bytes(object.__new__(dto), raw)


@pytest.mark.parametrize("raw", [b'{"reason": "lost\\u0000"}', b'{"\\u0000": 1}'])
def test_a_nul_character_in_a_body_is_refused(raw):
    """PostgreSQL cannot store a NUL in text: refused before any service sees it."""
    dto = body(CosignRequest, "send it right")
    with pytest.raises(ClientException, match="NUL"):
        dto.decode_bytes(object.__new__(dto), raw)


def test_an_empty_body_is_read_as_null_and_refused_when_read():
    dto = body(CosignRequest, "send it right")
    read = dto.decode_bytes(object.__new__(dto), b"")
    with pytest.raises(ClientException):
        _ = read.document


def test_the_wire_structs_encode_as_the_service_sent_them():
    """A reply converted from the service's dictionary keeps its members,
    order and nulls, and leaves out what was absent (``UNSET``)."""
    view = {
        "election_id": "e", "status": "draft", "manifest": {"b": 1, "a": [2]}, "trustee_count": 3, "threshold": 2,
        "ceremony_fingerprint": "00", "joint_key": None, "fingerprint": None,
    }
    assert msgspec.json.decode(msgspec.json.encode(msgspec.convert(view, ElectionView))) == view
    assert list(msgspec.to_builtins(msgspec.convert(view, ElectionView))) == list(view)
    status = {
        **view, "roll_size": 0, "ballots_cast": 0, "ballots_counted": 0, "board_size": 2,
        "schedule": {"opens_at": None, "closes_at": None, "server_time": "t", "accepting_ballots": False},
        "trustees": [], "result": None,
    }
    assert msgspec.to_builtins(msgspec.convert(status, ElectionStatus)) == status
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({**view, "surprise": 1}, ElectionView)


def test_the_documents_the_crypto_core_writes_fit_the_request_structs():
    """What a trustee's client sends (shares, a partial decryption) is what
    the schema describes: the Structs are not stricter than the protocol."""
    params = th.CeremonyParameters(2, 2, b"ceremony fingerprint")
    started = [th.start_ceremony(params, i) for i in (1, 2)]
    announcements = [a for _, a in started]
    shares = [sh for s, _ in started for sh in th.make_shares(params, s, announcements)]
    sent = [sh.to_json() for sh in shares if sh.sender == 1]
    assert _body(sent, list[EncryptedShare]).parse() == [EncryptedShare(**d) for d in sent]
    secrets = started[0][0]
    key = th.finish_ceremony(params, secrets, announcements, [sh for sh in shares if sh.recipient == 1])
    ciphertexts = [encrypt(th.joint_public_key(announcements), 1, Scalar.random())]
    partial = th.partial_decrypt(key, ciphertexts, fingerprint=b"\x00" * 32).to_json()
    parsed = _body(partial, PartialDecryptionRequest).parse()
    assert msgspec.to_builtins(parsed) == partial


def test_a_trustees_signed_announcement_and_endorsement_fit_the_request_structs(tmp_path):
    trustee = make_pki(tmp_path).enroll("T0001")
    params = th.CeremonyParameters(2, 2, b"ceremony fingerprint")
    _, announcement = th.start_ceremony(params, 1)
    announced = {
        "announcement": announcement.to_json(),
        "signature": sign_announcement(trustee, election_id="e", announcement=announcement.to_json()),
    }
    assert msgspec.to_builtins(_body(announced, AnnouncementRequest).parse()) == announced
    confirmed = {
        "public_share": "00" * 32,
        "endorsement": sign_endorsement(trustee, election_id="e", joint_key=b"\x01" * 32, fingerprint=b"\x02" * 32),
    }
    assert msgspec.to_builtins(_body(confirmed, ConfirmRequest).parse()) == confirmed
