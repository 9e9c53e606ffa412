"""The one import surface of handler families (`calibd.handlers.*` and users' own).

A handler module imports from calibd only this module (and its own family, or the shared
handler helpers in `calibd.handlers`); the core never imports handlers except the configured
`pipeline.handler_modules`, by importlib. `tests/unit/test_layering.py` enforces both rules.
Grouped by what a handler needs: registration, results and waits, errors, the message contracts
it consumes and answers with, time, ids and arrays, export, plot and simulation hooks, and
progress on a terminal.
"""

from __future__ import annotations

from calibd import __version__
from calibd.arrays import load_arrays
from calibd.demo import demo_handler_settings, demo_input
from calibd.errors import BadInput, ConfigurationError, RefusedRequest
from calibd.events.acada import (
    CalibrationRun,
    CalibrationStreamFileEvent,
    FlatFieldRunEvent,
    FramDataEvent,
    FramDownEvent,
    MuonDataEvent,
    PedestalRunEvent,
    TriggerRatesEvent,
    WeatherEvent,
)
from calibd.events.calibpipe import (
    ConfigChangeEvent,
    QualityRequest,
    Report,
    ReprocessRequestEvent,
)
from calibd.events.qualpipe import AssessmentEvent
from calibd.events.simpipe import ProductionEvent
from calibd.extensions import ExportJob, exporter, product_cards, simulator
from calibd.heap import release_freed_memory
from calibd.ids import new_product_id
from calibd.plotting import PlotJob, plotter, time_axes
from calibd.plotting import figure as plot_figure
from calibd.progress import Progress, progress
from calibd.registry import (
    HandlerContext,
    HandlerResult,
    OutgoingMessage,
    PendingWait,
    ProductDraft,
    Wait,
    handler,
    product_wait_key,
)
from calibd.reprocess import reprocess
from calibd.runtime_config import ConfigRejected
from calibd.scratch import make_scratch_dir
from calibd.store import parse_time
from calibd.timerange import check_mjd
from calibd.transports.acada_triggers.names import DL0FileName, parse_dl0_name
from calibd.transports.acada_triggers.source import trigger_message

__all__ = [
    "AssessmentEvent",
    "BadInput",
    "CalibrationRun",
    "CalibrationStreamFileEvent",
    "ConfigChangeEvent",
    "ConfigRejected",
    "ConfigurationError",
    "DL0FileName",
    "ExportJob",
    "FlatFieldRunEvent",
    "FramDataEvent",
    "FramDownEvent",
    "HandlerContext",
    "HandlerResult",
    "MuonDataEvent",
    "OutgoingMessage",
    "PedestalRunEvent",
    "PendingWait",
    "PlotJob",
    "ProductDraft",
    "ProductionEvent",
    "Progress",
    "QualityRequest",
    "RefusedRequest",
    "Report",
    "ReprocessRequestEvent",
    "TriggerRatesEvent",
    "Wait",
    "WeatherEvent",
    "__version__",
    "check_mjd",
    "demo_handler_settings",
    "demo_input",
    "exporter",
    "handler",
    "load_arrays",
    "make_scratch_dir",
    "new_product_id",
    "parse_dl0_name",
    "parse_time",
    "plot_figure",
    "plotter",
    "product_cards",
    "product_wait_key",
    "progress",
    "release_freed_memory",
    "reprocess",
    "simulator",
    "time_axes",
    "trigger_message",
]
