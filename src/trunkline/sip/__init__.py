"""Sans-IO SIP for REGISTER: bytes in, events out; no sockets, no clocks, no asyncio.

Modules:

* `errors`       the SIP error family (`SipError` and its subclasses)
* `headers`      header grammar: names, comma lists, params, URIs, addresses, Via
* `message`      `Request`, `Response`, `Headers`; datagram parser and serialiser
* `stream`       `StreamReader`: Content-Length framing and CRLF keep-alives on TCP/TLS
* `digest`       digest auth (RFC 7616/2617/8760): challenges, credentials, verification
* `nonce`        registrar nonces (stateless HMAC) and the `nc` replay guard
* `transaction`  non-INVITE client and server transactions (Timers E, F, K, J)
* `registration` the REGISTER client flow of one cloud line
* `policy`       result classification, back-off and refresh timing
* `lifecycle`    a cloud line's state machine and its STATUS_RESULT
* `registrar`    the office-PBX registrar decision core
* `throttle`     auth-failure throttling for the registrar

This package imports only the standard library.
"""
