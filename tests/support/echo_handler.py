"""Test handlers: a product per message, for exercising the daemon path without science code.

Loaded by integration tests through `pipeline.handler_modules`; they replace any built-in
handler of the same types (replace=True).
"""

from __future__ import annotations

from calibd.registry import HandlerResult, handler
from tests.support.echo_core import EchoConfig, burn, echo, nothing

__all__ = ["EchoConfig", "burn", "echo", "nothing"]


# defined here: a handler belongs to the handler module its function is defined in
async def _echo(event, ctx) -> HandlerResult:
    return await echo(event, ctx)


async def _nothing(event, ctx) -> HandlerResult:
    return await nothing(event, ctx)


for _type in (
    "ctao.acada.pedestal_run",
    "ctao.acada.muon_data",
    "ctao.acada.weather",
    "ctao.acada.trigger_rates",
):
    handler(
        _type,
        name=f"echo_{_type.rsplit('.', 1)[-1]}",
        config=EchoConfig,
        algorithm="echo",
        version="1",
        replace=True,
    )(_echo)
handler("ctao.acada.fram_down", name="noop_fram_down", algorithm="noop", replace=True)(_nothing)
