"""Message sources: Kafka, MQTT, ACADA trigger files and replay files; all feed one pipeline."""
