"""The order rules every entry point applies (REST and gRPC alike): one definition of each limit."""

from __future__ import annotations

from datetime import timedelta

# Photos and adapter go this long after delivery by default, and never later than MAX_RETENTION_HOURS
# after the order was created (35 days: the product's promise).
DEFAULT_RETENTION_HOURS = 24
MAX_RETENTION_HOURS = 35 * 24
MAX_RETENTION = timedelta(hours=MAX_RETENTION_HOURS)

# After an order is deleted, the retention sweep purges its prefix again for this long (a writer killed
# between its write and its tombstone check is the only way a blob could come back).
REPURGE_WINDOW = timedelta(hours=2)

# A process holding orders in memory announces itself every interval; after this many intervals of silence it
# counts as gone (its memory went with it) and later deletions do not wait for its report.
CACHE_HOLDER_SILENT_INTERVALS = 3

# More headshots from a stored adapter: at most this many per request.
MAX_RENDER_COUNT = 40

# The class noun bound to the identifier token in training ("sks person").
SUBJECT_CLASSES = ("person", "man", "woman")
DEFAULT_SUBJECT_CLASS = "person"

# Share of the whole order's progress bar that training takes; rendering takes the rest.
TRAINING_SHARE = 70
# Progress webhooks fire at most once per this many percent.
PROGRESS_WEBHOOK_STEP = 10
