"""Writes for orders, one module per concern: `creation` (create, submit, more renders), `photos`,
`pipeline_events` (the trainer's and renderer's events) and `retention` (deletion and the retention policy).

Every state change that other services or partners must hear about writes its outbox event and
its webhook rows in the same database transaction.
"""
