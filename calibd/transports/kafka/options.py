"""Connection options shared by the Kafka consumer and producer (security, client id)."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from calibd.config import KafkaSettings, SecretFile

__all__ = ["client_options"]


def client_options(s: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for bootstrap, client id, TLS and SASL (secret from a file)."""
    opts: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": s.client_id,
        "security_protocol": s.security_protocol,
        "metadata_max_age_ms": 60_000,
    }
    if s.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = create_ssl_context(cafile=str(s.ssl_cafile) if s.ssl_cafile else None)
    if s.security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = s.sasl_mechanism or "PLAIN"
        opts["sasl_plain_username"] = s.sasl_username
        if s.sasl_password_file is not None:
            opts["sasl_plain_password"] = SecretFile(path=s.sasl_password_file).read()
    return opts
