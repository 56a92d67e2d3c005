"""Email: ``[[placeholder]]`` templates the agency can edit, an outbox written
in the same transaction as the event it tells about, and delivery over SMTP
(or to a folder of ``.eml`` files locally) with retries.

- ``bridge.mail.subscribers``: which domain event sends which email
  (``register()`` subscribes them).
- ``bridge.mail.notify``: one function per email, queueing it in the outbox.
- ``bridge.mail.delivery``: ``deliver_due`` and the transports.
- ``bridge.mail.templates``: reading, editing and previewing templates.
"""
