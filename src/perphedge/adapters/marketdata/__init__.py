"""Market data: the bundled history, users' history files, downloads, the latest bars."""
