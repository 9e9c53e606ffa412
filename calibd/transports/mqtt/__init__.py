"""MQTT: source with a durable inbox before PUBACK, sink, client options."""
