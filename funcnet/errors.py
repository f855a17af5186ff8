"""The kinds of failure funcnet reports, one exception type each.

Every message names the file (or config field), the row/column where one
applies, and what was expected, so that the CLI can print it as one line.
The CLI maps each type to its own exit code (see ``funcnet --help``).

>>> raise DataError("train.csv: row 3, column 'pixel5': expected an integer 0..255, got 'x'")
Traceback (most recent call last):
...
funcnet.errors.DataError: train.csv: row 3, column 'pixel5': expected an integer 0..255, got 'x'
"""

from __future__ import annotations


class FuncnetError(Exception):
    """Base class of every error funcnet reports on purpose."""

    exit_code = 1


class ConfigError(FuncnetError, ValueError):
    """A config field, ``--set`` override or pipeline file is wrong."""

    exit_code = 2


class DataError(FuncnetError, ValueError):
    """A data file is missing, malformed, or holds values out of range."""

    exit_code = 3


class CheckpointError(FuncnetError, ValueError):
    """A checkpoint is missing, damaged, truncated or not funcnet's."""

    exit_code = 4


class DownloadError(DataError):
    """Data could not be fetched from any mirror."""

    exit_code = 5


class TrainingError(FuncnetError, ArithmeticError):
    """Training stopped: the loss or a parameter became non-finite."""

    exit_code = 6


class ClusterError(FuncnetError):
    """A Dask scheduler cannot be reached, or dask.distributed is not installed."""

    exit_code = 1
