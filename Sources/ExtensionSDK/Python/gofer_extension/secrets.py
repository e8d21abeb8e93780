"""Secret stores (§10.4): override get, put, delete and list; keys and values are checked for you."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, List, Optional

from .errors import Diagnostic, invalid_params, not_found
from .extension import Extension


def check_key(params: Dict[str, Any], field: str = "key") -> str:
    """The request's key, or -32602 saying what is wrong with it (§10.4's rules)."""
    key = params.get(field)
    problem = None
    if not isinstance(key, str) or not key:
        problem = "required: a non-empty string"
    elif len(key.encode("utf-8")) > 512:
        problem = "longer than 512 bytes"
    elif key.startswith("/"):
        problem = "must not start with /"
    elif any(c in key for c in "\0\r\n"):
        problem = "must not contain NUL, CR or LF"
    elif any(segment in ("", ".", "..") for segment in key.split("/")):
        problem = "must not have empty, . or .. segments"
    if problem is not None:
        raise invalid_params("invalid %s: %s" % (field, problem), Diagnostic("/params/" + field, problem))
    return str(key)


class SecretStore(Extension):
    """A secret store. Values are bytes; keys are checked before your code sees them.

    ```python
    class Memory(SecretStore):
        name = "memory"
        async def setup(self): self.values = {}
        async def get(self, key): return self.values.get(key)
        async def put(self, key, value): self.values[key] = value
        async def delete(self, key): self.values.pop(key, None)
        async def list(self, prefix): return [k for k in self.values if k.startswith(prefix)]
    serve(Memory())
    ```
    Raise `unavailable("…")` when the backend does not answer (retryable).
    """

    kind = "secrets"

    async def get(self, key: str) -> Optional[bytes]:
        """The value, or None when there is no such secret."""
        raise NotImplementedError

    async def put(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        """Deleting a missing key succeeds."""
        raise NotImplementedError

    async def list(self, prefix: str) -> List[str]:
        """Names only, never values."""
        raise NotImplementedError

    def _handlers(self) -> Dict[str, Any]:
        return {**super()._handlers(), "secrets/get": self._get, "secrets/put": self._put, "secrets/delete": self._delete, "secrets/list": self._list}

    async def _get(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        key = check_key(params)
        value = await self.get(key)
        if value is None:
            raise not_found("no secret %r" % key)
        try:
            return {"value": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"valueB64": base64.b64encode(value).decode("ascii")}

    async def _put(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        key = check_key(params)
        if isinstance(params.get("value"), str):
            value = str(params["value"]).encode("utf-8")
        elif isinstance(params.get("valueB64"), str):
            try:
                value = base64.b64decode(str(params["valueB64"]), validate=True)
            except (binascii.Error, ValueError):
                raise invalid_params("valueB64 is not base64", Diagnostic("/params/valueB64", "not base64")) from None
        else:
            raise invalid_params("give value (text) or valueB64 (bytes)", Diagnostic("/params/value", "required"))
        await self.put(key, value)
        return {}

    async def _delete(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        await self.delete(check_key(params))
        return {}

    async def _list(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        prefix = params.get("prefix", "")
        if not isinstance(prefix, str):
            raise invalid_params("prefix must be a string", Diagnostic("/params/prefix", "expected a string"))
        return {"keys": sorted(await self.list(prefix))}
