"""Replay: a JSON-lines file of envelopes through the pipeline."""
