"""The words an operator uses for states and faults, imported by ``states.py``,
``faults.py`` and the command line's parser (which must stay cheap to import: this module
imports nothing)."""

PLANS = ("standard", "enterprise", "free")  # a portal's plan (free: no REST)
LIMIT_MODES = ("default", "on", "off")  # limits for one portal: the global setting, or forced
HOLD_ALL = ("webhooks", "apps")  # the hold entries that name every caller of a kind
KINDS = ("query-limit", "operation-time", "internal-error", "expired-token", "latency", "drop")
