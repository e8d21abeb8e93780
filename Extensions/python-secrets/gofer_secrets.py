#!/usr/bin/env python3
"""Keeps secrets in a JSON file (0600) in its state directory. TODO: talk to your secret backend."""
import base64, json, os, tempfile
import sys; sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "../../Sources/ExtensionSDK/Python"))  # this repository's SDK (not in the scaffold)
from gofer_extension import SecretStore, serve

class PythonSecrets(SecretStore):
    name, summary = "python-secrets", "Secrets in a file in the state directory (Python example)."
    async def setup(self) -> None:
        self.path = os.path.join(self.state_dir or tempfile.mkdtemp(), "secrets.json")
        self.values = json.load(open(self.path)) if os.path.exists(self.path) else {}
    def save(self) -> None:
        with open(os.open(self.path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(self.values, f)
        os.replace(self.path + ".tmp", self.path)
    async def get(self, key: str) -> "bytes | None":
        return base64.b64decode(self.values[key]) if key in self.values else None
    async def put(self, key: str, value: bytes) -> None:
        self.values[key] = base64.b64encode(value).decode()
        self.save()
    async def delete(self, key: str) -> None:
        if self.values.pop(key, None) is not None:
            self.save()
    async def list(self, prefix: str) -> "list[str]":
        return [k for k in self.values if k.startswith(prefix)]

serve(PythonSecrets())
