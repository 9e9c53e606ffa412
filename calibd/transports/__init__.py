"""Transports, one package each with the same files (see calibd.transports.base):

- `kafka`: source (consumer group, offsets committed after the commit to the database),
  sink (the outbox relay's producer), options (TLS/SASL client options), offsets;
- `mqtt`: source (durable inbox before PUBACK), sink, options;
- `acada_triggers`: source (ACADA's `<file>.trigger` symlinks), names (DL0 file names);
- `replay`: source (a JSON-lines file through the pipeline, `calibd replay`).
"""
