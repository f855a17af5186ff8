"""Data: the Dataset record, split and batches, readers and the downloader."""

from .csvio import read_csv
from .dataset import Dataset, as_dataset, batches, num_batches, require_labels, scale, split, stream
from .fetch import cache_folder, fetch
from .identify import identify, other_data_warning
from .idx import read_folder, read_idx
from .locate import load, locate

__all__ = ["Dataset", "as_dataset", "require_labels", "batches", "num_batches", "scale", "split", "stream",
           "read_idx", "read_folder", "read_csv", "fetch", "cache_folder",
           "locate", "load", "identify", "other_data_warning"]
