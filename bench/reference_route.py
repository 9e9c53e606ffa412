"""The reference route from DL0 calibration streams to pixel statistics, with ctapipe 0.28 and
ctapipe-io-zfits 0.5 (what ctao-calibpipe 0.8 runs; its final step, coefficients from the
statistics, is a few array operations and left out): per event kind, `ctapipe-process` with an
event-type filter writing DL1 images (pedestals: GlobalPeakWindowSum, flat-fields:
LocalPeakWindowSum, width 12, shift 4), then `ctapipe-calculate-pixel-statistics` on them with
chunks of `chunk_size` events. Used by `dl0_block.py`; not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KINDS = {
    "pedestal": (["PEDESTAL", "SKY_PEDESTAL"], "GlobalPeakWindowSum"),
    "flatfield": (["FLATFIELD"], "LocalPeakWindowSum"),
}


def _run(tool: str, config: dict, workdir: str, name: str) -> None:
    path = Path(workdir) / f"{name}.json"
    path.write_text(json.dumps(config))
    command = [str(Path(sys.executable).with_name(tool)), f"--config={path}", "--log-level=WARN"]
    # in the work folder: ctapipe writes its provenance log into the working directory
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")


def reference_route(paths: list[str], workdir: str, chunk_size: int = 2500) -> int:
    """Run the route on the block of `paths` (io-zfits finds the other streams and chunks
    itself from the first file); the number of events in the DL1 files. The tools run as
    commands: their peak RSS is the bench process's RUSAGE_CHILDREN."""
    os.environ.setdefault("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")
    import tables

    first = sorted(paths)[0]
    n = 0
    for kind, (types, extractor) in KINDS.items():
        dl1 = str(Path(workdir) / f"{kind}.dl1.h5")
        process = {
            "EventSource": {"input_url": first},
            "DataWriter": {
                "output_path": dl1,
                "overwrite": True,
                "write_dl1_images": True,
                "write_dl1_parameters": False,
            },
            "MultiFiles": {"all_chunks": True},
            "EventTypeFilter": {"allowed_types": types},
            "CameraCalibrator": {"image_extractor_type": extractor},
            extractor: {
                "window_width": 12,
                "window_shift": 4,
                "apply_integration_correction": False,
            },
        }
        _run("ctapipe-process", process, workdir, f"{kind}-process")
        with tables.open_file(dl1) as h5:
            n += sum(t.nrows for t in h5.walk_nodes("/dl1/event/telescope/images", "Table"))
        statistics = {
            "TableLoader": {"input_url": dl1},
            "PixelStatisticsCalculatorTool": {
                "output_path": str(Path(workdir) / f"{kind}.monitoring.h5")
            },
            "PixelStatisticsCalculator": {
                "stats_aggregator_type": [["type", "*", "SigmaClippingAggregator"]]
            },
            "SizeChunking": {"chunk_size": chunk_size},
            "HDF5Merger": {"overwrite": True},
        }
        _run("ctapipe-calculate-pixel-statistics", statistics, workdir, f"{kind}-statistics")
    return n
