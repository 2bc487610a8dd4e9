"""Many pupils: worker processes, progress bars, Dask datasets."""
