"""A network lab of Linux namespaces for trying and testing pantau without a real network."""
