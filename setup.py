"""Package discovery: `calibd` and its subpackages, and `handlers/` installed as
`calibd.handlers` (never as a top-level `handlers`). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["calibd", "calibd.*"]),
        "calibd.handlers",
        *(f"calibd.handlers.{p}" for p in find_packages("handlers")),
    ],
    package_dir={"calibd.handlers": "handlers"},
)
