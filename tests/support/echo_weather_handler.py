"""The echo test handler for weather messages only, beside calibd's own handlers of every
other type (the scale-out run mixes echoed weather with camera runs and FRAM-down)."""

from __future__ import annotations

from calibd.registry import HandlerResult, handler
from tests.support.echo_core import EchoConfig, echo


async def echo_weather(event, ctx) -> HandlerResult:
    """`echo_core.echo`, defined here: a handler belongs to the module of its function."""
    return await echo(event, ctx)


handler(
    "ctao.acada.weather",
    name="echo_weather",
    config=EchoConfig,
    algorithm="echo",
    version="1",
    replace=True,
)(echo_weather)
