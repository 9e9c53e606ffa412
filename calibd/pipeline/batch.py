"""A fetched batch (`Pipeline.submit_many`) through the same stages as one message, with
less per message: every message decoded, the keys held and one ledger lookup for all of
them; each handler call a task of its own; the successful results written by one
`commit_many`; the outcomes accounted in one pass.

A message the batch cannot settle this way (refused at intake, a key already in progress or
twice in the batch, a duplicate, no handler, a failed call, an unstorable result) takes the
one-message path of its stage (`Intake.take`, `Intake.decide`, `Invoker.failed`): the batch
changes what a message costs, not what becomes of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from calibd.committer import Committer
from calibd.events import CloudEvent
from calibd.pipeline.calls import Call
from calibd.pipeline.context import CallContext
from calibd.pipeline.dedup import digest
from calibd.pipeline.dispatch import Dispatcher
from calibd.pipeline.intake import Intake, Key, bind_message
from calibd.pipeline.invoke import Invoker
from calibd.pipeline.outcome import Outcome
from calibd.transports.base import RawMessage

__all__ = ["BatchIntake"]

Work = Coroutine[Any, Any, Outcome]
Result = Outcome | BaseException
Finish = Callable[[RawMessage, Work], Coroutine[Any, Any, Result]]
Account = Callable[[Outcome, float, dict[str, Any] | None], None]


class _Fast:
    """One message on the batch's fast path: its call, context and handler task."""

    __slots__ = ("call", "ctx", "held", "index", "key", "logctx", "started_at", "task")

    def __init__(self, index: int, key: Key, held: asyncio.Future, call: Call) -> None:
        self.index, self.key, self.held, self.call = index, key, held, call
        self.ctx: CallContext
        self.started_at: datetime
        self.logctx: contextvars.Context
        self.task: asyncio.Task


class BatchIntake:
    """Takes a batch of raw messages to their outcomes (see the module docstring)."""

    def __init__(
        self,
        *,
        intake: Intake,
        dispatcher: Dispatcher,
        invoker: Invoker,
        committer: Committer,
        finish: Finish,
        account: Account,
        release: Callable[[int], None],
    ) -> None:
        self._intake = intake
        self._dispatcher = dispatcher
        self._invoker = invoker
        self._committer = committer
        self._finish = finish
        self._account = account
        self._release = release

    async def take(self, raws: Sequence[RawMessage]) -> list[Result]:
        """Each message's Outcome, or the exception that left it uncommitted (in order)."""
        started = time.perf_counter()
        intake = self._intake
        slow: dict[int, Work] = {}
        fresh: list[tuple[int, RawMessage, CloudEvent, Key]] = []
        keys: set[Key] = set()
        for i, raw in enumerate(raws):
            event = intake.screen(raw)
            if isinstance(event, CloudEvent):
                key = (event.source, event.id)
                if key not in keys and not intake.busy(key):
                    keys.add(key)
                    fresh.append((i, raw, event, key))
                    continue
            slow[i] = intake.take(raw)  # refused, or waits for its key's first message
        held = {key: intake.hold(key) for *_, key in fresh}
        fast: list[_Fast] = []
        try:
            found = await intake.store.processed(list(keys)) if keys else {}
        except BaseException as exc:  # e.g. a storage fault: every fresh message fails with it
            for key, fut in held.items():
                intake.release(key, fut, exc)
            if not isinstance(exc, Exception):  # cancelled: nothing of the batch runs
                for work in slow.values():
                    work.close()
                raise
            slow.update((i, _fail(exc)) for i, *_ in fresh)
        else:
            for i, raw, event, key in fresh:
                content = digest(event)
                call = None if key in found else self._dispatcher.route(raw, event, content)
                if isinstance(call, Call):
                    fast.append(_Fast(i, key, held[key], call))
                else:  # a duplicate, a conflict or a refusal: its own path
                    work = intake.decide(raw, event, content, key in found, found.get(key))
                    slow[i] = _held(intake, key, held[key], raw, event, work)
        loop = asyncio.get_running_loop()
        tasks = {i: loop.create_task(self._finish(raws[i], w)) for i, w in slow.items()}
        results: list[Result | None] = [None] * len(raws)
        try:
            if fast:
                for i, result in (await self._run(fast, started)).items():
                    results[i] = result
            for i, task in tasks.items():
                results[i] = await task
        except BaseException:  # cancelled (abandoned): the rest of the batch with it
            for task in tasks.values():
                task.cancel()
            raise
        return results  # type: ignore[return-value]

    async def _run(self, fast: list[_Fast], started: float) -> dict[int, Result]:
        """The handler calls of `fast`, concurrently; then one commit of their results."""
        loop = asyncio.get_running_loop()
        invoker = self._invoker
        for f in fast:
            f.ctx, f.started_at = invoker.prepare(f.call)
            f.logctx = contextvars.copy_context()
            f.logctx.run(bind_message, f.call.raw, f.call.event)
            f.task = loop.create_task(invoker.call(f.call, f.ctx), context=f.logctx)
        try:
            returned = await asyncio.gather(*(f.task for f in fast), return_exceptions=True)
        except BaseException as exc:  # cancelled: release the keys, acknowledge nothing
            for f in fast:
                self._intake.release(f.key, f.held, exc)
            self._release(len(fast))
            raise
        committing: list[tuple[_Fast, Any]] = []
        failures: dict[int, asyncio.Task[Result]] = {}
        out: dict[int, Result] = {}
        for f, value in zip(fast, returned, strict=True):
            try:
                if isinstance(value, BaseException):
                    raise value
                committing.append((f, invoker.completion(f.call, f.ctx, value, f.started_at)))
            except Exception as exc:
                failures[f.index] = self._alone(f, invoker.failed(f.call, exc, f.ctx))
            except BaseException as exc:  # its task was cancelled alone: not acknowledged
                self._intake.release(f.key, f.held, exc)
                self._release(1)
                out[f.index] = exc
        errors = await self._committer.commit_many([c for _, c in committing])
        for (f, completion), error in zip(committing, errors, strict=True):
            if error is not None:
                failures[f.index] = self._alone(f, _fail(error))
                continue
            outcome = invoker.outcome(f.call, completion)
            self._intake.release(f.key, f.held, outcome)
            self._account(outcome, started, _fields(f))
            out[f.index] = outcome
        self._release(len(committing) - sum(e is not None for e in errors))
        for i, task in failures.items():
            out[i] = await task
        return out

    def _alone(self, f: _Fast, work: Work) -> asyncio.Task[Result]:
        """A fast message that failed goes on by itself (in its own log context); its slot
        is released by `finish`, its key once it has an outcome."""
        raw, event = f.call.raw, f.call.event
        return asyncio.get_running_loop().create_task(
            _held(self._intake, f.key, f.held, raw, event, work, self._finish), context=f.logctx
        )


def _fields(f: _Fast) -> dict[str, Any]:
    raw, event = f.call.raw, f.call.event
    return {
        "transport": raw.transport,
        "origin": raw.origin,
        "event_id": event.id,
        "event_type": event.type,
        "event_source": event.source,
    }


async def _held(
    intake: Intake,
    key: Key,
    held: asyncio.Future,
    raw: RawMessage,
    event: CloudEvent,
    work: Work,
    finish: Finish | None = None,
) -> Any:
    """`work` in the message's log context; its key released with the result."""
    bind_message(raw, event)
    try:
        result = await (finish(raw, work) if finish is not None else work)
    except BaseException as exc:
        intake.release(key, held, exc)
        raise
    intake.release(key, held, result)
    return result


async def _fail(exc: BaseException) -> Outcome:
    raise exc
