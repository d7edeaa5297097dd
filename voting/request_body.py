"""Request bodies and their wire Structs (voting/wire/).

A handler declares ``data: Body[SomeRequest]`` with ``dto=body(SomeRequest,
hint)``: the OpenAPI document then describes the Struct, so the schema and the
parser are one definition. The body is read in three steps, each where the
service checked it before (two exceptions: a body with members its Struct does
not name is refused, where the login once ignored them; and an operation that
needs a role refuses the wrong caller before it looks at the body):

1. not UTF-8 JSON: 400 ``malformed_request``, before anything else;
2. not a JSON object (or array, for a list body): 400 ``malformed_request``,
   when the handler reads it (after the session is checked);
3. the wrong shape: ``Body.parse`` refuses it with the operation's own code
   and a detail naming what to send. Litestar would convert a typed body
   leniently (``"3"`` becomes ``3``); msgspec's strict rules are used here, so
   nothing refused before is accepted. Operations whose service checks the
   election's state or the caller's role before the body pass
   ``Body.document`` on, and the service checks the shape where it did.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, get_origin

import msgspec
from litestar.dto import DTOData, MsgspecDTO
from litestar.exceptions import ClientException
from litestar.typing import FieldDefinition

from voting.errors import ServiceError

S = TypeVar("S")


class Body(DTOData[S]):
    """A request body decoded from JSON, not yet of its Struct's shape."""

    __slots__ = ("_document", "_refusal", "_target")

    def __init__(self, document: Any, target: Any, refusal: tuple[str, str, int]) -> None:
        self._document = document
        self._target = target
        self._refusal = refusal

    @property
    def document(self) -> Any:
        """The JSON as sent: an object (an array for a list body)."""
        expected = list if get_origin(self._target) is list else dict
        if not isinstance(self._document, expected):
            raise ClientException(f"the body must be a JSON {'array' if expected is list else 'object'}")
        return self._document

    def parse(self) -> S:
        """The body as its Struct, strictly, or the operation's refusal."""
        document = self.document
        try:
            return msgspec.convert(document, self._target, strict=True)
        except msgspec.ValidationError as exc:
            hint, code, status = self._refusal
            raise ServiceError(f"{hint}: {exc}", code=code, status=status) from None

    def create_instance(self, **kwargs: Any) -> S:
        return self.parse()


class StrictBody(MsgspecDTO[S], Generic[S]):  # type: ignore[type-var]
    """Reads a body into a ``Body``; ``body()`` makes one per operation."""

    target: ClassVar[Any]
    refusal: ClassVar[tuple[str, str, int]]

    def decode_bytes(self, value: bytes) -> Any:
        # JSON can carry a NUL only as the escape \u0000. PostgreSQL cannot store
        # one in text, and no message needs one; refuse it here, as in a path.
        if b"\\u0000" in value:
            raise ClientException("a NUL character (\\u0000) is not allowed in a request body")
        try:
            return Body(msgspec.json.decode(value or b"null"), self.target, self.refusal)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            raise ClientException("the body is not UTF-8 JSON of a reasonable depth") from None

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        """The Struct's own schema (not a transfer model named after the handler)."""
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.target))


def body(target: Any, hint: str, *, code: str = "invalid_request", status: int = 422) -> type[StrictBody[Any]]:
    """The DTO of a handler's ``data: Body[target]`` (a Struct, or a list of
    Structs); ``hint`` says what to send, ``code`` and ``status`` how a body of
    the wrong shape is refused."""
    model = target.__args__[0] if get_origin(target) is list else target
    return type(
        f"{model.__name__}Body", (StrictBody[model],), {"target": target, "refusal": (hint, code, status)}  # type: ignore[valid-type]
    )
