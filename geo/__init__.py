"""Geography: districts, site assignment, supervision coverage and blankspots, maps."""
