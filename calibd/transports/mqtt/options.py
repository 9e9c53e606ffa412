"""Connection options shared by the MQTT source and sink (credentials from a file, TLS)."""

from __future__ import annotations

import ssl
from typing import Any

from calibd.config import MqttSettings, SecretFile

__all__ = ["client_options"]


def client_options(s: MqttSettings, identifier: str) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "hostname": s.host,
        "port": s.port,
        "identifier": identifier,
        "keepalive": s.keepalive_s,
    }
    if s.username:
        opts["username"] = s.username
        if s.password_file is not None:
            opts["password"] = SecretFile(path=s.password_file).read()
    if s.tls:
        opts["tls_context"] = ssl.create_default_context(
            cafile=str(s.ca_file) if s.ca_file else None
        )
    return opts
