"""Handler registration: which coroutine turns an event of a given `type` into products.

A handler is an async function registered with :func:`handler`::

    class PedestalConfig(BaseModel):
        sigma_clip: float = 4.0

    @handler("ctao.acada.pedestal_run", name="camera.pedestal", config=PedestalConfig,
             algorithm="pedestal-sigma-clipped", version="1.0")
    async def pedestal_run(event: PedestalRunEvent, ctx: HandlerContext) -> HandlerResult:
        path = await ctx.resolve_file(event.data.files[0])          # data roots, sha256, provenance
        stats = await ctx.run_cpu(compute_pedestal, path, ctx.config.sigma_clip)  # process pool
        return HandlerResult(products=[ProductDraft(product_type="camera_pedestal", ...)])

A handler whose result depends on something that has not arrived yet returns a `Wait`
(e.g. a flat-field run waiting for the pedestal of its telescope). The wait is stored with the
result; when a product of the awaited kind is committed (kind ``product:<product_type>``, key
``tel=<tel_id>``), or a handler declares it in `HandlerResult.resolves`, the wait becomes ready
in that same transaction and the owner's `resume` hook runs; past its deadline, the `expire`
hook runs. Waits survive restarts. A product committed while the handler was still looking
(between its query and its wait's commit) makes the new wait ready at once: no lost wake-up.

A handler renamed keeps its former names as `aliases`: settings under `handlers.<alias>` (and
`profiles.<cat>.<alias>`), in the settings file, the environment and run-time config changes,
are mapped to the new name with a "deprecated config key" warning (`calibd.runtime_config`),
and products recorded under a former name are still reproduced.

Misconfiguration (an unknown event type, a duplicate registration or name, a config model
without defaults) raises :class:`~calibd.errors.ConfigurationError` at registration, not at the
first message. The pipeline owns everything around the call: validation, dedup, the
transaction with product, provenance and outbox rows, and the calibration-ready notification.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ValidationError

from calibd.config_input import format_errors
from calibd.errors import ConfigurationError
from calibd.store.rules import Category, product_wait_key

if TYPE_CHECKING:
    from pathlib import Path

    from calibd.events.common import DataFile

__all__ = [
    "Category",
    "Handler",
    "HandlerContext",
    "HandlerResult",
    "NoConfig",
    "OutgoingMessage",
    "PendingWait",
    "ProductDraft",
    "Registry",
    "Wait",
    "default_registry",
    "handler",
    "product_wait_key",
]


class NoConfig(BaseModel):
    """Config model of handlers that take no settings."""


@dataclass
class ProductDraft:
    """A calibration product as a handler returns it; the pipeline stores it with provenance.

    `payload` holds JSON-serialisable results and metadata, `arrays` numpy arrays stored
    bit-exact, `summary` the few figures copied into the calibration-ready notification.
    `category` None means the handler's configured default (B unless configured).
    Every number must be finite unless its field path is listed in `missing`.
    """

    product_type: str
    valid_from: datetime
    valid_to: datetime | None = None
    tel_id: int | None = None
    category: Category | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    algorithm: str | None = None
    algorithm_version: str | None = None
    supersedes: list[str] = field(default_factory=list)
    """Ids of products this one replaces outright (status becomes superseded)."""
    truncates: list[str] = field(default_factory=list)
    """Ids of products that stay valid only until this one's `valid_from`."""
    id: str | None = None
    """Pre-assigned id (`calibd.ids.new_product_id()`), for a message of the same result
    that must quote it (e.g. a quality request); None lets the pipeline assign one."""
    missing: list[str] = field(default_factory=list)
    """Field paths (`arrays.tau`, `payload.stats.mean`, `summary.stability`; a path covers
    those below it) where NaN or infinity means a value not measured or undefined. Any other
    non-finite number refuses the product (`calibd.product_check`): the message becomes a
    dead letter, reason `invalid_product`. Stored, a missing payload/summary value is null."""


@dataclass
class OutgoingMessage:
    """A message a handler asks calibd to publish (e.g. a quality request or a report).

    It goes through the outbox, in the same transaction as the products.
    `data` is a pydantic model of the outgoing type or a plain dict validated against it.
    """

    type: str
    data: BaseModel | dict[str, Any]
    subject: str | None = None
    id: str | None = None
    """Pre-assigned envelope id (`calibd.events.envelope.new_event_id()`), for a wait keyed on the
    reply that will quote it; None lets the pipeline assign one."""


@dataclass
class Wait:
    """Park this message's outcome until (kind, key) is resolved or `deadline` passes.

    `state` (JSON-serialisable) is handed back to the `resume`/`expire` hooks.
    """

    kind: str
    key: str
    deadline: datetime
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingWait:
    """A stored wait, as the `resume` and `expire` hooks receive it."""

    id: int
    kind: str
    key: str
    state: dict[str, Any]
    event: Any
    """The validated event of the message that waits."""
    created_at: datetime
    deadline: datetime
    resolved_by: dict[str, Any] | None


@dataclass
class HandlerResult:
    """What a handler returns: products (may be empty), extra messages to publish, waits to
    park, and the (kind, key) pairs of other handlers' waits this result resolves (the resumed
    wait's `resolved_by` holds this event's id and type and the ids of these products)."""

    products: list[ProductDraft] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    resolves: list[tuple[str, str]] = field(default_factory=list)


class ProductReader(Protocol):
    """Read-only store queries a handler may make."""

    async def best_product(
        self, product_type: str, tel_id: int | None, at: datetime
    ) -> dict[str, Any] | None: ...

    async def product(self, product_id: str) -> dict[str, Any] | None: ...

    async def products(self, **filters: Any) -> list[dict[str, Any]]: ...


class HandlerContext(Protocol):
    """What a handler gets besides its event. Implemented by the pipeline."""

    config: Any
    """The handler's validated config model instance."""
    log: Any
    """A structlog logger bound to the message's id, type and source."""
    store: ProductReader

    async def run_cpu(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a picklable CPU-heavy function in the worker process pool."""
        ...

    @property
    def cpu_workers(self) -> int:
        """The worker processes of the pool (`pipeline.workers`): calls run at once."""
        ...

    async def resolve_file(self, ref: DataFile | str, sha256: str | None = None) -> Path:
        """Resolve a data file inside the data roots, check it exists and its sha256.

        Records the file and its checksum in the product provenance. Raises BadInput.
        """
        ...


HandlerFn = Callable[[Any, HandlerContext], Awaitable[HandlerResult]]
WaitHook = Callable[[PendingWait, HandlerContext], Awaitable[HandlerResult]]
ReproduceHook = Callable[[Any, HandlerContext, dict[str, Any]], Awaitable[HandlerResult]]
"""(the recorded event, context, the stored product) -> the result to compare it with."""


@dataclass(frozen=True)
class Handler:
    """A registered handler."""

    event_type: str
    name: str
    fn: HandlerFn
    config_model: type[BaseModel]
    algorithm: str
    version: str
    resume: WaitHook | None = None
    expire: WaitHook | None = None
    aliases: tuple[str, ...] = ()
    """Former names, deprecated: their settings are mapped to `name`."""
    reproduce: ReproduceHook | None = None
    """How `calibd reproduce` makes a product again when calling `fn` with the recorded
    message would not (a product a wait hook made from several files); default: `fn`."""

    def load_config(self, raw: dict[str, Any] | None) -> BaseModel:
        """Validate this handler's section of the settings; errors name `handlers.<name>.<key>`."""
        try:
            return self.config_model.model_validate(raw or {})
        except ValidationError as exc:
            problems = "; ".join(format_errors(exc, prefix=f"handlers.{self.name}."))
            raise ConfigurationError(f"invalid configuration: {problems}") from None


class Registry:
    """Maps event types to handlers."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def register(
        self,
        event_type: str,
        fn: HandlerFn,
        *,
        name: str | None = None,
        config: type[BaseModel] = NoConfig,
        algorithm: str | None = None,
        version: str = "1",
        replace: bool = False,
        resume: WaitHook | None = None,
        expire: WaitHook | None = None,
        aliases: tuple[str, ...] | list[str] = (),
        reproduce: ReproduceHook | None = None,
    ) -> Handler:
        """Register `fn` for `event_type`; reject misconfiguration at once."""
        from calibd.events import INBOUND_MODELS

        if event_type not in INBOUND_MODELS:
            raise ConfigurationError(
                f"handler {fn.__qualname__}: {event_type!r} is not an inbound event type "
                f"(known: {', '.join(sorted(INBOUND_MODELS))})"
            )
        for hook in (fn, resume, expire, reproduce):
            if hook is not None and not inspect.iscoroutinefunction(hook):
                raise ConfigurationError(f"handler {hook.__qualname__} must be an async function")
        if event_type in self._by_type and not replace:
            other = self._by_type[event_type]
            raise ConfigurationError(
                f"{event_type!r} already has handler {other.name!r}; pass replace=True to override"
            )
        try:
            config.model_validate({})
        except ValidationError as exc:
            raise ConfigurationError(
                f"handler {fn.__qualname__}: config model {config.__name__} needs defaults "
                f"for every field ({exc.error_count()} missing)"
            ) from None
        entry = Handler(
            event_type=event_type,
            name=name or event_type.rsplit(".", 1)[-1],
            fn=fn,
            config_model=config,
            algorithm=algorithm or fn.__qualname__,
            version=version,
            resume=resume,
            expire=expire,
            aliases=tuple(aliases),
            reproduce=reproduce,
        )
        if entry.name in entry.aliases:
            raise ConfigurationError(f"handler {entry.name!r} lists its own name as an alias")
        for t, h in self._by_type.items():
            if t == event_type:
                continue
            taken = {h.name, *h.aliases}
            if entry.name in taken:
                raise ConfigurationError(f"handler name {entry.name!r} is already taken")
            clash = sorted(taken & set(entry.aliases))
            if clash:
                raise ConfigurationError(
                    f"handler {entry.name!r}: alias {clash[0]!r} is already taken by {h.name!r}"
                )
        self._by_type[event_type] = entry
        return entry

    def adopt(self, entry: Handler) -> None:
        """Add an already validated handler (used to select handlers by module)."""
        self._by_type[entry.event_type] = entry

    def get(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)

    def by_name(self, name: str) -> Handler | None:
        """The handler called `name`, or formerly called so (one of its `aliases`)."""
        return next(
            (h for h in self._by_type.values() if h.name == name),
            next((h for h in self._by_type.values() if name in h.aliases), None),
        )

    def aliases(self) -> dict[str, str]:
        """Every deprecated handler name -> the name it maps to."""
        return {alias: h.name for h in self._by_type.values() for alias in h.aliases}

    def __iter__(self):
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)


default_registry = Registry()


def handler(
    event_type: str,
    *,
    name: str | None = None,
    config: type[BaseModel] = NoConfig,
    algorithm: str | None = None,
    version: str = "1",
    replace: bool = False,
    registry: Registry | None = None,
    resume: WaitHook | None = None,
    expire: WaitHook | None = None,
    aliases: tuple[str, ...] | list[str] = (),
    reproduce: ReproduceHook | None = None,
) -> Callable[[HandlerFn], HandlerFn]:
    """Decorator: register an async handler for `event_type` (see the module docstring).

    `aliases`: the handler's former names, kept working for its settings (deprecated)."""

    def decorate(fn: HandlerFn) -> HandlerFn:
        (registry or default_registry).register(
            event_type,
            fn,
            name=name,
            config=config,
            algorithm=algorithm,
            version=version,
            replace=replace,
            resume=resume,
            expire=expire,
            aliases=aliases,
            reproduce=reproduce,
        )
        return fn

    return decorate
