"""Project-wide pytest configuration for Patch's own test suite."""
