"""ACADA trigger files: `<file>.trigger` symlinks beside closed DL0 files (polling watcher).

Each trigger becomes one event whose id is derived from the trigger's path (UUID5), so the
ledger guarantees it is processed once, across restarts. The DL0 name gives tel_id, SB and
observation ids, stream and chunk; the file's primary header tells what it holds
(`content`): an ACADA calibration stream (DATATYPE Calibration) becomes
`ctao.acada.calibration_stream_file`; muon candidates, air showers and sub-array triggers are
recorded as ignored with the reason. Files without that metadata (calibd's dedicated-run
format) go by `acada_triggers.streams`, which maps the stream to an event type ('auto' reads
the file's RUNTYPE header: PEDESTAL or FLATFIELD); streams not mapped are recorded as ignored.
Unusable triggers are dead-lettered. A trigger's target is resolved
through every symlink (readlink and lstat only) and refused unless it lies inside
`data_roots`, before anything opens it; afterwards only the resolved path is used.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calibd.config import AcadaTriggerSettings
from calibd.errors import BadInput
from calibd.logs import get_logger
from calibd.transports.acada_triggers.content import FileContent, read_content
from calibd.transports.acada_triggers.names import parse_dl0_name
from calibd.transports.base import Admission, RawMessage

__all__ = ["AcadaTriggerSource", "trigger_event", "trigger_message"]

log = get_logger("calibd.transports.acada_triggers.source")

SUFFIX = ".trigger"
RUNTYPE_EVENTS = {"PEDESTAL": "ctao.acada.pedestal_run", "FLATFIELD": "ctao.acada.flatfield_run"}


def trigger_event_id(trigger: Path) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, trigger.absolute().as_uri()))


def _runtype(path: Path) -> str:
    from astropy.io import fits

    try:
        value = fits.getval(path, "RUNTYPE", ext=0)
    except KeyError:
        raise BadInput(f"{path}: primary header has no RUNTYPE keyword") from None
    except Exception as exc:
        raise BadInput(f"{path}: cannot read the primary header: {exc}") from None
    if value not in RUNTYPE_EVENTS:
        raise BadInput(f"{path}: RUNTYPE {value!r} is neither PEDESTAL nor FLATFIELD")
    return RUNTYPE_EVENTS[value]


def _inside_roots(trigger: Path, target: Path, roots: list[Path]) -> Path:
    """`target` resolved through every symlink (only readlink/lstat, nothing is opened);
    BadInput unless it lies inside one of `roots` (resolved)."""
    try:
        real = Path(os.path.realpath(target))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{trigger}: cannot resolve target {target}: {exc}") from None
    if not any(real.is_relative_to(root) for root in roots):
        raise BadInput(f"{trigger}: target resolves to {real}, outside the data roots")
    return real


def trigger_event(trigger: Path, settings: AcadaTriggerSettings, roots: list[Path]) -> bytes | str:
    """The CloudEvent (JSON bytes) for one trigger, or why calibd does not act on it (str).

    Blocking (reads the primary header). Raises BadInput for an unusable trigger, and for a
    target outside `roots` (the resolved data roots) before the target is opened.
    """
    if trigger.is_symlink():
        target = (trigger.parent / os.readlink(trigger)).absolute()
    else:
        target = trigger.with_name(trigger.name[: -len(SUFFIX)]).absolute()
    real = _inside_roots(trigger, target, roots)  # from here on only the resolved path
    try:
        name = parse_dl0_name(target.name)
    except ValueError as exc:
        raise BadInput(f"{trigger}: {exc}") from None
    if not real.is_file():
        raise BadInput(f"{trigger}: target {target} does not exist or is not a regular file")
    content = read_content(real)
    if content.ignored_because is not None:
        return f"{content.datatype}: {content.ignored_because}"
    if content.is_calibration_stream:
        data = _stream_file_data(trigger, target, name, content)
        return _envelope(trigger, target, settings, "ctao.acada.calibration_stream_file", data)
    event_type = settings.streams.get(name.stream)
    if event_type is None:
        return f"stream {name.stream} not mapped (acada_triggers.streams)"
    if event_type == "auto":
        event_type = _runtype(real)
    if name.tel_id is None:
        raise BadInput(f"{trigger}: {name.stream} file of a sub-array has no telescope")
    files = [{"uri": str(target)}]
    if event_type in RUNTYPE_EVENTS.values():
        data = {
            "tel_id": name.tel_id,
            "obs_id": name.obs_id,
            "sb_id": name.sb_id,
            "run_start": name.start.isoformat(),
            "files": files,
            "chunk_id": name.chunk_id,
        }
    elif event_type == "ctao.acada.muon_data":
        data = {"tel_id": name.tel_id, "obs_id": name.obs_id, "files": files}
    else:
        raise BadInput(
            f"{trigger}: stream {name.stream} is mapped to {event_type}, "
            "which a trigger file cannot describe"
        )
    return _envelope(trigger, target, settings, event_type, data)


def trigger_message(trigger: Path, roots: list[Path]) -> dict:
    """The envelope the trigger source makes of `trigger` with default settings (for
    simulators and the demo); BadInput when it would refuse it or ignore the file."""
    payload = trigger_event(trigger, AcadaTriggerSettings(), [r.resolve() for r in roots])
    if isinstance(payload, str):
        raise BadInput(f"{trigger}: ignored: {payload}")
    return json.loads(payload)


def _stream_file_data(trigger: Path, target: Path, name: Any, content: FileContent) -> dict:
    """The data of a calibration stream file, its name and header checked against each other."""
    if name.tel_id is None:
        raise BadInput(f"{trigger}: a calibration stream file of a sub-array has no telescope")
    header = {"AE_ID": content.ae_id, "OBS_ID": content.obs_id, "SB_ID": content.sb_id}
    from_name = {"AE_ID": name.tel_id, "OBS_ID": name.obs_id, "SB_ID": name.sb_id}
    for key, value in header.items():
        if value is not None and value != from_name[key]:
            raise BadInput(
                f"{trigger}: primary header {key} = {value} but the file name says {from_name[key]}"
            )
    level = (content.data_level or "").upper()
    if level not in ("DL0", "R1"):
        raise BadInput(f"{trigger}: DATALEVL {content.data_level!r} is neither DL0 nor R1")
    return {
        "tel_id": name.tel_id,
        "sb_id": name.sb_id,
        "obs_id": name.obs_id,
        "stream": name.source,
        "chunk_id": name.chunk_id,
        "data_level": level,
        "block_start": name.start.isoformat(),
        "obs_night": content.obs_night,
        "file": {"uri": str(target)},
    }


def _envelope(
    trigger: Path, target: Path, settings: AcadaTriggerSettings, event_type: str, data: dict
) -> bytes:
    mtime = datetime.fromtimestamp(trigger.lstat().st_mtime, UTC)
    envelope = {
        "specversion": "1.0",
        "id": trigger_event_id(trigger),
        "source": settings.source,
        "type": event_type,
        "time": mtime.isoformat(),
        "subject": target.name,
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(envelope).encode()


class AcadaTriggerSource:
    name = "acada-triggers"

    def __init__(
        self,
        settings: AcadaTriggerSettings,
        pipeline: Admission,
        roots: list[Path],
    ) -> None:
        self.settings = settings
        self.roots = roots
        self.pipeline = pipeline
        self._seen: set[Path] = set()
        self._renewed: float | None = None  # monotonic time of the last lease renewal
        self.connected = True

    def scan(self) -> list[Path]:
        """Trigger files under the watched directories, oldest first (blocking)."""
        found: list[tuple[float, Path]] = []
        for directory in self.settings.directories:
            for root, _dirs, files in os.walk(directory):
                for fname in files:
                    if fname.endswith(SUFFIX):
                        path = Path(root, fname)
                        if path not in self._seen:
                            try:
                                found.append((path.lstat().st_mtime, path))
                            except FileNotFoundError:
                                continue
        return [p for _, p in sorted(found)]

    async def close(self) -> None:
        """Nothing to do: the trigger files stay where they are."""

    async def run(self) -> None:
        missing = [str(d) for d in self.settings.directories if not d.is_dir()]
        if missing:
            log.warning("trigger directories do not exist (yet)", directories=missing)
        log.info(
            "watching for ACADA trigger files",
            directories=[str(d) for d in self.settings.directories],
        )
        name = "acada-triggers:" + ",".join(sorted(str(d) for d in self.settings.directories))
        scanning: bool | None = None
        while True:
            held = await self._holding(name)
            if held != scanning:  # log the changes only: standby, or (again) the scanner
                scanning = held
                log.info("trigger directories scanned here" if held else "standby: another "
                         "instance scans the trigger directories", lease=name)  # fmt: skip
            if held and not await self._scan_holding(name):
                scanning = False
                log.warning("trigger scanning lease lost during a scan: standby", lease=name)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _scan_holding(self, name: str) -> bool:
        """Handle the new trigger files while a task keeps the lease renewed (a scan may take
        longer than the lease); stop at once, False, when the lease is lost."""
        lost = asyncio.Event()

        async def keep() -> None:
            while True:
                await asyncio.sleep(self.settings.lease_s / 3)
                if not await self._holding(name):
                    lost.set()
                    return

        keeper = asyncio.create_task(keep(), name="calibd-trigger-lease")
        try:
            for trigger in await asyncio.to_thread(self.scan):
                if lost.is_set():
                    return False
                await self.handle(trigger)
            return not lost.is_set()
        finally:
            keeper.cancel()

    async def _holding(self, name: str) -> bool:
        """Whether this instance scans now: the lease renewed when a third of it has passed
        since the last renewal (so not every poll: on SQLite each renewal is a write)."""
        now = time.monotonic()
        if self._renewed is not None and now - self._renewed < self.settings.lease_s / 3:
            return True
        held = await self._lease(name)
        self._renewed = now if held else None
        return held

    async def _lease(self, name: str) -> bool:
        """Take or renew the lease; a database error is logged and counts as not holding it
        (the next poll tries again)."""
        try:
            return await self.pipeline.hold_lease(name, self.settings.lease_s)
        except Exception as exc:
            log.warning("cannot renew the trigger scanning lease", error=str(exc))
            return False

    async def handle(self, trigger: Path) -> None:
        key = (self.settings.source, trigger_event_id(trigger))
        self._seen.add(trigger)
        if await self.pipeline.already_processed(key):
            return
        try:
            payload = await asyncio.to_thread(trigger_event, trigger, self.settings, self.roots)
        except BadInput as exc:
            raw = RawMessage(
                transport="acada-trigger",
                origin=str(trigger),
                origin_key=f"trigger:{key[1]}",
                payload=json.dumps({"trigger": str(trigger)}).encode(),
            )
            await self.pipeline.reject(raw, exc, key=key)
            return
        if isinstance(payload, str):
            await self.pipeline.record_ignored(key, "acada-trigger", payload)
            return
        await self.pipeline.submit(
            RawMessage(
                transport="acada-trigger",
                origin=str(trigger),
                origin_key=f"trigger:{key[1]}",
                payload=payload,
            )
        )
