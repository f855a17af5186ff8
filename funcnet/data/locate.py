"""Where the data come from, and loading them: an explicit path, else the usual places.

The order is: an explicit ``path`` (a CSV file, or a folder holding the four
IDX files); else ``$FUNCNET_DATA/<dataset>/`` if it holds the files; else,
for Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist``; else the
download cache if it holds them; else :func:`~funcnet.data.fetch.fetch`
into the cache. Files found in place are only read, never written or moved,
and they are checked by content (the strict readers), not by checksum.
"""

from __future__ import annotations

import os
from pathlib import Path

import toolz

from ..errors import DataError
from .csvio import SUFFIXES, read_csv
from .dataset import Dataset
from .fetch import REGISTRY, cache_folder, fetch
from .idx import IDX_FILES, find_idx_files, read_folder

__all__ = ["SYSTEM_FOLDERS", "search_folders", "locate", "load"]

# Folders that distributions install datasets into.
SYSTEM_FOLDERS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}


def _holds_idx(folder: Path) -> bool:
    """Whether ``folder`` holds all four standard IDX files (gzipped or not).

    >>> import tempfile
    >>> _holds_idx(Path(tempfile.mkdtemp()))
    False
    """
    return all(p is not None for p in find_idx_files(folder).values())


def search_folders(dataset: str = "mnist") -> tuple[Path, ...]:
    """The folders looked in, in order, before downloading.

    ``$FUNCNET_DATA/<dataset>`` (when set), then system folders, then the
    download cache (the same folder when FUNCNET_DATA is set).

    >>> cache_folder("fashion-mnist") in search_folders("fashion-mnist")
    True
    """
    root = os.environ.get("FUNCNET_DATA")
    env = (Path(root) / dataset,) if root else ()
    return tuple(toolz.unique(env + SYSTEM_FOLDERS.get(dataset, ()) + (cache_folder(dataset),)))


def _explicit(path: Path) -> Path:
    """Check an explicit ``path``: a CSV file or a folder of IDX files."""
    if path.is_file():
        if not path.name.lower().endswith(SUFFIXES):
            raise DataError(f"{path}: expected a .csv file or a folder holding the four "
                            "IDX files (train-images-idx3-ubyte.gz, ...); a CSV file may be "
                            f"compressed as {', '.join(SUFFIXES[1:])}")
        return path
    if path.is_dir():
        return path  # read_folder names any missing file
    raise DataError(f"{path}: no such file or folder: expected a .csv file or a folder "
                    "holding the four IDX files (train-images-idx3-ubyte.gz, ...)")


def _not_found(dataset: str) -> DataError:
    """The DataError for no data anywhere and no download allowed."""
    looked = ", ".join(map(str, search_folders(dataset)))
    first = IDX_FILES[("train", "images")]
    return DataError(
        f"no {dataset} data found (looked in {looked}) and downloading is off: "
        f"put the four files {', '.join(n + '.gz' for n in IDX_FILES.values())} in a "
        f"folder and pass it with --data FOLDER, or set FUNCNET_DATA=DIR with the "
        f"files in DIR/{dataset}/ ($FUNCNET_DATA/{dataset}/{first}.gz, ...), "
        "or allow downloading")


def locate(dataset: str = "mnist", path=None, download: bool = True, *,
           progress: bool = True) -> Path:
    """The file or folder to read ``dataset`` from, downloading it if need be.

    Args:
      dataset: ``"mnist"`` or ``"fashion-mnist"`` (ignored when ``path`` is given).
      path: an explicit CSV file or folder of IDX files; checked to exist.
      download: fetch into the cache when no folder holds the files.
      progress: show the download's progress bar on stderr.
    Returns:
      A ``.csv`` file (maybe ``.csv.gz``, ...), or a folder holding the four IDX files.
    Raises:
      DataError: ``path`` does not exist or is neither; the dataset is
        unknown; nothing found and ``download`` is false (the message says
        where to put the files). DownloadError: the download failed.

    >>> locate(path="/nonexistent")
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: /nonexistent: no such file or folder: expected a .csv file or a folder holding the four IDX files (train-images-idx3-ubyte.gz, ...)
    """
    if path is not None:
        return _explicit(Path(path))
    if dataset not in REGISTRY:
        raise DataError(f"unknown dataset {dataset!r}: expected one of "
                        f"{', '.join(sorted(REGISTRY))}")
    found = next((f for f in search_folders(dataset) if _holds_idx(f)), None)
    if found is not None:
        return found
    if not download:
        raise _not_found(dataset)
    return fetch(dataset, progress=progress)


def load(dataset: str = "mnist", path=None, download: bool = True, *,
         progress: bool = True) -> dict[str, Dataset]:
    """Locate ``dataset`` (see :func:`locate`) and read it strictly.

    Args:
      dataset, path, download, progress: as for :func:`locate`.
    Returns:
      ``{"train": Dataset}`` for a CSV file; ``{"train": ..., "test": ...}``
      for a folder of IDX files.
    Raises:
      DataError: as :func:`locate`, or a file is malformed.

    >>> import tempfile
    >>> load(path=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: /...: missing train-images-idx3-ubyte[.gz], ...
    """
    where = locate(dataset, path, download, progress=progress)
    return {"train": read_csv(where)} if where.is_file() else read_folder(where)
