"""Why a render request or its images fail, for the gRPC edge to map (imported without torch)."""


class AdapterEvicted(RuntimeError):
    """The adapter was evicted (its order deleted) while the request waited."""


class AdapterDeleted(RuntimeError):
    """The adapter's order was deleted: it is never loaded again."""
