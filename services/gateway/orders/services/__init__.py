"""Writes for orders, one module per concern: `creation` (create, submit, more renders), `photos`,
`pipeline_events` (the trainer's and renderer's events), `retention` (deletion and the retention policy) and
`test_mode` (test partners' orders, done by a placeholder pipeline in the gateway worker).

Every state change that other services or partners must hear about writes its outbox event and
its webhook rows in the same database transaction.
"""
