"""Domain values with no I/O: lines and line queries, portals and users, principals,
PHP value conversions, and the application clock. Nothing here imports anything of ours."""
