"""The HandlerContext a handler call gets: its configuration, logger, store and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibd.config import Settings
from calibd.datafiles import InputFile, resolve_data_file
from calibd.events.common import DataFile
from calibd.executor import CpuPool
from calibd.registry import Handler, ProductReader
from calibd.runtime_config import ConfigVersion

__all__ = ["CallContext"]


class CallContext:
    """What one handler call sees (`calibd.registry.HandlerContext`); records its input files.

    `pipeline` is the pipeline making the call (the reprocessing handler uses it); `store` is
    what the handler may read (reproduction passes a view as of the product's creation).
    """

    def __init__(
        self,
        *,
        handler: Handler,
        version: ConfigVersion,
        category: str,
        settings: Settings,
        pool: CpuPool,
        store: ProductReader,
        log: Any,
        log_fields: dict[str, Any] | None = None,
        runtime: Any = None,
        pipeline: Any = None,
    ) -> None:
        self.handler = handler
        self.category = category
        self.config_version = version
        self.config = version.handler_config(handler.name, category)
        self.settings = settings
        self.runtime = runtime
        self.pipeline = pipeline
        self._log = log
        self._log_fields = log_fields
        self.store = store
        self.inputs: list[InputFile] = []
        self._pool = pool

    @property
    def log(self) -> Any:
        """The logger bound to this call (bound on first use: most handlers never log)."""
        if self._log_fields is not None:
            self._log, self._log_fields = self._log.bind(**self._log_fields), None
        return self._log

    async def run_cpu(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self._pool.run(fn, *args, **kwargs)

    @property
    def cpu_workers(self) -> int:
        return self._pool.workers

    async def resolve_file(self, ref: DataFile | str, sha256: str | None = None) -> Path:
        uri, expected = (ref, sha256) if isinstance(ref, str) else (ref.uri, ref.sha256 or sha256)
        found = await asyncio.to_thread(
            resolve_data_file,
            uri,
            self.settings.effective_data_roots,
            expected,
            self.settings.pipeline.max_file_bytes,
            self.settings.pipeline.max_decompressed_bytes,
        )
        self.inputs.append(found)
        return Path(found.path)
