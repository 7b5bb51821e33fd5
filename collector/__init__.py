"""The pantau collector: gathers agents' state changes into outage history and serves it."""
