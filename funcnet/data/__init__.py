"""Data: the Dataset record, split and batches, readers and the downloader."""

from .dataset import Dataset, batches, num_batches, scale, split, stream

__all__ = ["Dataset", "batches", "num_batches", "scale", "split", "stream"]
