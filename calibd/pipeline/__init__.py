"""The path of one message, one stage per module:

    source --submit--> service.Pipeline (at most max_in_flight at once)
      -> batch       (submit_many: a fetched batch, one ledger lookup and one commit for
                     the messages that go straight through; the others take intake alone)
      -> intake      size limit, decode (calibd.codec: CloudEvents envelope, strict model)
      -> dedup       one message per (source, id) at a time; the ledger lookup
                     (duplicate: no-op; other content: conflicting_duplicate dead letter)
      -> dispatch    the handler registered for `type`, the event's time checks
      -> calls       the situation: message, retry, resume, expire, reprocess
      -> invoke      the handler under a timeout (one watchdog task; CPU work in the pool), the
                     exception policy: commit, park a retry, or dead-letter
      -> rows        products with provenance, waits, resolved waits
      -> outbound    outbox envelopes (calibration_ready, handler messages)
      -> committer   one group transaction (calibd.committer)
    dead_lettering   every refusal on the way; waits: the stored waits scheduler

The future `submit` returns resolves only after the commit; sources acknowledge then
(Kafka offset commit, MQTT inbox row removal). Nothing is acknowledged before it is durable.
A failure that is not a storage fault (`calibd.faults`) ends the message as an `unstorable`
dead letter; a storage fault fails the future and calls `on_fatal` (the daemon stops).
"""

from calibd.arrays import load_arrays
from calibd.pipeline.context import CallContext
from calibd.pipeline.outcome import Outcome, OutcomeStatus
from calibd.pipeline.service import Pipeline

__all__ = ["CallContext", "Outcome", "OutcomeStatus", "Pipeline", "load_arrays"]
