"""calibd: the Calibration Pipeline daemon of CTAO's DPPS."""

__version__ = "0.1.0"
__all__ = ["__version__"]
