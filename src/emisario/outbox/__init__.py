"""The outbox: CRONUS's durable queue of outgoing mail (messages, recipients, attempts,
attachments stored once) and the intake services every Django app of the project calls."""
