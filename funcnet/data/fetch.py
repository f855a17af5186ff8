"""Download the four IDX files of MNIST or Fashion-MNIST, verified, with pooch.

Pooch does the HTTP, the SHA-256 check and the atomic write (it
downloads into a temporary file in the cache folder and moves it into place
only when the hash matches, so a failed or corrupt download leaves nothing
behind). This module adds what pooch lacks: a list of mirrors tried in
order, retries of only what a retry can mend (a cut or stalled transfer,
never a file with the wrong hash), one quiet line per file instead of
pooch's log, a file lock so that two runs never download into the same
folder at once, and one :class:`~funcnet.errors.DownloadError` that says
what was tried and how to place the files by hand.

The cache folder is ``$FUNCNET_DATA/<dataset>/`` when ``FUNCNET_DATA`` is
set, else ``~/.cache/funcnet/<dataset>/`` (``pooch.os_cache("funcnet")``).
``FUNCNET_MIRRORS`` (comma-separated base URLs) replaces the default mirrors.

>>> sorted(REGISTRY), MIRRORS["mnist"][0]
(['fashion-mnist', 'mnist'], 'https://storage.googleapis.com/cvdf-datasets/mnist/')
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import filelock
import pooch
import requests

from ..errors import DownloadError
from .idx import IDX_FILES

__all__ = ["REGISTRY", "MIRRORS", "cache_folder", "mirror_list", "fetch"]

# SHA-256 of the canonical .gz files. MNIST: as published (TensorFlow Datasets'
# url_checksums/mnist.txt; sizes 9912422, 28881, 1648877, 4542 bytes).
# Fashion-MNIST: TensorFlow Datasets' url_checksums/fashion_mnist.txt for
# Zalando's bucket, sizes 26421880, 29515, 4422102, 5148 bytes; those sizes
# agree with the sizes Keras' downloader prints for the same names. These are
# not the hashes of the copies in ../shared/data/fashion-mnist (Debian's):
# those are 24, 24, 23 and 23 bytes smaller (their gzip headers carry no file
# name) and their MD5s differ from the ones in Zalando's README, so their
# SHA-256 would reject every genuine download.
REGISTRY: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

# Base URLs, tried in order.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
}

_LOCK_NAME = ".funcnet-download.lock"


def cache_folder(dataset: str = "mnist") -> Path:
    """Where :func:`fetch` keeps ``dataset``: ``$FUNCNET_DATA/<dataset>``, else the OS cache.

    >>> cache_folder("fashion-mnist").name
    'fashion-mnist'
    """
    root = os.environ.get("FUNCNET_DATA")
    return (Path(root) if root else Path(pooch.os_cache("funcnet"))) / dataset


def mirror_list(dataset: str = "mnist", mirrors: Iterable[str] | str | None = None
                ) -> tuple[str, ...]:
    """The base URLs to try, in order, each ending in ``/``.

    ``mirrors`` (a list, or one comma-separated string) wins; else the
    environment variable ``FUNCNET_MIRRORS``; else :data:`MIRRORS`.

    >>> mirror_list("mnist", "http://a/x, http://b/")
    ('http://a/x/', 'http://b/')
    """
    if mirrors is None:
        mirrors = os.environ.get("FUNCNET_MIRRORS") or MIRRORS.get(dataset, ())
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    return tuple(m.strip().rstrip("/") + "/" for m in mirrors if m.strip())


def _reason(error: Exception) -> str:
    """A few words on why one download failed, for the DownloadError message.

    >>> _reason(ValueError("SHA256 hash of downloaded file (x) does not match the known hash"))
    'SHA-256 mismatch, rejected'
    """
    e = requests.exceptions
    if isinstance(error, e.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    if isinstance(error, e.Timeout):
        return "timed out"
    if isinstance(error, e.ConnectionError):
        return "cannot connect"
    if isinstance(error, e.ChunkedEncodingError):
        return "connection closed before the end of the file"
    if isinstance(error, ValueError) and "hash" in str(error):
        return "SHA-256 mismatch, rejected"
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _transient(error: Exception) -> bool:
    """Whether trying the same URL again may help: a cut or stalled transfer, an HTTP 5xx.

    A hash mismatch, a refused connection or an HTTP 4xx will not change.

    >>> _transient(requests.exceptions.ChunkedEncodingError()), _transient(ValueError("hash"))
    (True, False)
    """
    e = requests.exceptions
    if isinstance(error, e.HTTPError):
        return error.response is not None and error.response.status_code >= 500
    return isinstance(error, (e.ChunkedEncodingError, e.ReadTimeout))


def _on_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def _attempt(base: str, name: str, known_hash: str, folder: Path, progress: bool,
             retries: int, timeout: float) -> str | None:
    """Fetch ``base + name`` into ``folder`` with pooch; None on success, else why not.

    Pooch downloads once (its own retries would fetch a file with the wrong
    hash again); a cut or stalled transfer is tried ``retries`` more times
    here, anything else goes straight to the next mirror.
    """
    store = pooch.create(path=folder, base_url=base, registry={name: known_hash},
                         retry_if_failed=0)
    downloader = pooch.HTTPDownloader(progressbar=progress and _on_terminal(), timeout=timeout)
    for attempt in range(retries + 1):
        try:
            store.fetch(name, downloader=downloader)
            return None
        except (requests.exceptions.RequestException, ValueError, OSError) as error:
            if attempt == retries or not _transient(error):
                return _reason(error)
            time.sleep(min(0.25 * 2 ** attempt, 2.0))
    return None  # pragma: no cover - the loop always returns


def _in_place(folder: Path, name: str, known_hash: str) -> bool:
    """Whether ``folder/name`` is there with the right hash (then nothing is downloaded)."""
    path = folder / name
    algorithm, _, digest = known_hash.partition(":")
    return path.is_file() and pooch.file_hash(str(path), alg=algorithm) == digest


def _by_hand(dataset: str, folder: Path) -> str:
    """How to get the files without downloading, for messages."""
    names = ", ".join(f"{n}.gz" for n in IDX_FILES.values())
    return (f"to place the files by hand, download {names} and put them in {folder} "
            f"(or in any folder passed with --data; FUNCNET_DATA=DIR reads "
            f"DIR/{dataset}/), or set FUNCNET_MIRRORS to other comma-separated "
            "base URLs")


def _failure(dataset: str, folder: Path, name: str, tried: list[str]) -> DownloadError:
    """The DownloadError for a file no mirror could deliver."""
    env = os.environ.get("FUNCNET_DATA")
    return DownloadError(
        f"could not download {name} ({dataset}) from any mirror: tried "
        f"{'; '.join(tried) or 'no mirror (the list is empty)'}; cache folder {folder} "
        f"(FUNCNET_DATA={env if env else 'not set'}); {_by_hand(dataset, folder)}")


def _fetch_file(name: str, known_hash: str, bases: tuple[str, ...], attempt,
                fail) -> None:
    """Try each mirror in turn until one delivers ``name``; raise ``fail(tried)`` if none."""
    tried = []
    for base in bases:
        reason = attempt(base, name, known_hash)
        if reason is None:
            return
        tried.append(f"{base}{name} ({reason})")
    raise fail(name, tried)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) or raise DownloadError saying it is not writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{folder}: cannot create the cache folder ({e.strerror or e}); "
                            "expected a writable folder: set FUNCNET_DATA to one, or "
                            "pass a folder holding the files with --data") from None


@contextlib.contextmanager
def _guard(folder: Path, timeout: float) -> Iterator[None]:
    """Hold the folder's download lock; pooch's own log lines never reach the user."""
    from .._locks import held

    holding = held(folder / _LOCK_NAME, timeout=timeout)
    try:
        holding.__enter__()
    except filelock.Timeout:
        raise DownloadError(f"{folder}: another process has held the download lock "
                            f"{folder / _LOCK_NAME} for over {timeout:g} s; "
                            "expected it to finish first") from None
    except OSError as e:
        raise DownloadError(f"{folder}: cannot write the lock file {_LOCK_NAME} "
                            f"({e.strerror or e}); expected a writable folder: set "
                            "FUNCNET_DATA to one") from None
    logger = pooch.get_logger()
    level = logger.level
    try:
        logger.setLevel(logging.CRITICAL + 1)
        yield
    finally:
        logger.setLevel(level)
        holding.__exit__(None, None, None)


def fetch(dataset: str = "mnist", folder=None, mirrors=None, progress: bool = True, *,
          registry: Mapping[str, str] | None = None, retries: int = 2,
          timeout: float = 60.0, lock_timeout: float = 3600.0) -> Path:
    """Download the dataset's files into the cache folder (if not already there).

    Each file is tried on each mirror in order, checked against its pinned
    hash, and moved into place only when it matches. A file with the wrong
    hash is rejected at once (never fetched again from that mirror); a cut
    or stalled transfer is tried ``retries`` more times before moving on.
    Files already in place with the right hash are never downloaded again.

    Args:
      dataset: ``"mnist"`` or ``"fashion-mnist"``.
      folder: where to keep the files; default :func:`cache_folder`.
      mirrors: base URLs to try in order; default ``$FUNCNET_MIRRORS``
        (comma-separated) or :data:`MIRRORS`.
      progress: one line on stderr per file downloaded, and a progress bar
        when stderr is a terminal.
      registry: file name -> ``"sha256:<hex>"``; default ``REGISTRY[dataset]``.
      retries: more tries of a cut or stalled transfer on each mirror.
      timeout: seconds a request may stall.
      lock_timeout: seconds to wait for another download into ``folder``.
    Returns:
      The folder holding the files.
    Raises:
      DownloadError: a file could not be had from any mirror (the message
        names the URLs tried, the cache folder, FUNCNET_DATA and how to put
        the files there by hand), or the folder is not writable.

    >>> fetch("cifar")
    Traceback (most recent call last):
    ...
    funcnet.errors.DownloadError: unknown dataset 'cifar': expected one of fashion-mnist, mnist
    """
    if registry is None and dataset not in REGISTRY:
        raise DownloadError(f"unknown dataset {dataset!r}: expected one of "
                            f"{', '.join(sorted(REGISTRY))}")
    registry = dict(REGISTRY[dataset] if registry is None else registry)
    folder = Path(folder) if folder is not None else cache_folder(dataset)
    bases = mirror_list(dataset, mirrors)
    attempt = functools.partial(_attempt, folder=folder, progress=progress,
                                retries=retries, timeout=timeout)
    fail = functools.partial(_failure, dataset, folder)
    _make_folder(folder)
    with _guard(folder, lock_timeout):
        for name, known_hash in registry.items():
            if _in_place(folder, name, known_hash):
                continue
            if progress:
                print(f"funcnet: downloading {dataset}/{name}", file=sys.stderr, flush=True)
            _fetch_file(name, known_hash, bases, attempt, fail)
    return folder
