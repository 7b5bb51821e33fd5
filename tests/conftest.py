"""Shared pytest setup. Keep small: fixtures live in their own modules, loaded here."""

pytest_plugins = ["labfixtures"]
