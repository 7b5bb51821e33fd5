"""One module per health family, each exporting ``TABLES`` (see :mod:`..spec`)."""
