"""Limits, portal states and injected faults (``rest-protocol.md`` §11, §12).

    bucket.py      the request-rate leaky bucket: pure arithmetic, the clock passed in
    operating.py   the operating-time window: ten one-minute buckets, pure, the clock passed in
    memory.py      in-process state of both (one worker)
    lease.py       a worker's side of the shared state: token leases, cached usages
    shared.py      the shared state in Redis, updated by Lua scripts (every worker and node)
    states.py      portal states an operator sets (plan, block, closed, hold) and their errors
    faults.py      injected faults: validation and matching
    names.py       the words of states and faults (plans, limit modes, fault kinds)
    guard.py       the hook the REST dispatcher calls around each call

Nothing here imports storage/, rest/ or the engine; the composition root
(``trunkline.web.control``) loads states and faults and hands them to the guard.
"""
