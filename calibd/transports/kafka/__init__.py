"""Kafka: consumer source, producer sink, client options, offset tracking."""
