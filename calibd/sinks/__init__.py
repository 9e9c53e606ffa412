"""Where the outbox relay publishes notifications: Kafka and MQTT."""
