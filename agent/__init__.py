"""The pantau agent: probes sites on a schedule, keeps their state and exports metrics."""
