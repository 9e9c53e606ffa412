"""Camera calibration from pedestal and flat-field runs (`ctao.acada.pedestal_run`,
`ctao.acada.flatfield_run`): the excess-noise-factor (F-factor) method.

`reader` reads the run files (`schemas/formats/camera_run.md`) and `writer` writes them,
`extract` integrates waveforms, `stats` streams sigma-clipped statistics, `ffactor` turns them
into coefficients and the unusable-pixel mask, `simulate` writes synthetic runs with a known
truth; `handler` wires them into calibd, `export` writes the FITS products, `simulate_cli`
adds `calibd simulate camera-run` and the demo's runs. ACADA's DL0/R1 calibration streams
(`ctao.acada.calibration_stream_file`): `dl0_reader`/`dl0_writer` read and write the files,
`dl0_simulate` writes an observation block with a known truth, `series` cuts the events into
overlapping chunks, `block_compute` makes the time series of coefficients and `block` groups a
block's files and makes one product per chunk; `dl0_cli` adds `calibd simulate dl0-cal` and the
demo's DL0 block. `monitoring_hdf5` (with `hdf5_configuration`) writes coefficient time series
in ctapipe's monitoring HDF5 layout, for `ctapipe-process`; `monitoring_export` is the `.h5`
export of a block's products with it.
"""

from calibd.handlers.camera import (
    block,
    dl0_cli,
    export,
    handler,
    monitoring_export,
    plots,
    simulate_cli,
)

__all__ = ["block", "dl0_cli", "export", "handler", "monitoring_export", "plots", "simulate_cli"]
