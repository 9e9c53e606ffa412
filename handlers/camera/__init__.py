"""Camera calibration from pedestal and flat-field runs (`ctao.acada.pedestal_run`,
`ctao.acada.flatfield_run`): the excess-noise-factor (F-factor) method.

`reader` reads the run files (`schemas/formats/camera_run.md`) and `writer` writes them,
`extract` integrates waveforms, `stats` streams sigma-clipped statistics, `ffactor` turns them
into coefficients and the unusable-pixel mask, `simulate` writes synthetic runs with a known
truth; `handler` wires them into calibd, `export` writes the FITS products, `simulate_cli`
adds `calibd simulate camera-run` and the demo's runs.

ACADA's DL0 calibration streams (protobuf-zFITS): `dl0_reader` (`open_dl0`, `iter_dl0_events`,
checks in `dl0_checks`) reads DL0/R1 telescope event files, `dl0_writer` (`DL0Writer`) writes
CAL files as ACADA does, `dl0_simulate` (`simulate_dl0_block`) writes observation blocks with a
known residual truth. Not wired into the handlers yet.
"""

from calibd.handlers.camera import export, handler, simulate_cli

__all__ = ["export", "handler", "simulate_cli"]
