"""Small Ray Serve apps for the examples; importable wherever rayplane is installed."""
