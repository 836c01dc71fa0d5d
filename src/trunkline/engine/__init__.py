"""asyncio around the sans-IO SIP core: the only code here that touches sockets and clocks.

Modules:

* `resolver`    RFC 3263 targets (NAPTR -> SRV -> A/AAAA) with an injected dnspython resolver
* `transport`   UDP endpoints, TCP/TLS connections, the client channels cloud lines send on
* `supervisor`  every cloud line's registration on one timer heap (failover, farewells)
* `registrar`   the office-PBX registrar on UDP/TCP/TLS, bindings in the database
* `runtime`     `Engine`: start-up and shutdown, status writes, change notifications and polling
"""
