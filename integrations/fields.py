"""Model fields of the integrations domain."""

from __future__ import annotations

from typing import Any

from django.db import models

from integrations import crypto


class Sealed:
    """Ciphertext as loaded from the database, decrypted only when asked.

    Loading a list of connections never decrypts anything, so a wrong key breaks only the
    operation that needs the secret, and that one can say which connection it was.
    """

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "<Sealed credentials>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted with the credentials keys (see ``integrations.crypto``).

    In Python the value is ``None``, a ``dict`` (set by code, encrypted on save) or a
    :class:`Sealed` token (loaded, not yet decrypted). Never editable in forms.
    """

    description = "Encrypted JSON object"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Sealed | None:
        return Sealed(value) if value else None

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return Sealed(value) if value else None
        return value

    def get_prep_value(self, value: Any) -> str:
        if value is None or value == "" or value == {}:
            return ""
        if isinstance(value, Sealed):
            return value.token
        if isinstance(value, dict):
            return crypto.seal(value)
        raise TypeError("EncryptedJSONField takes a dict, a Sealed token or None.")

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> None:
        return None
