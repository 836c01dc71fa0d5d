-- perf-anchors.md "Anchor 2" post.lua: the same 79-byte JSON body on every request.
wrk.method = "POST"
wrk.body = '{"auth":"2b7e3f9a8c1d4e5f6a7b8c9d0e1f2a3b","FILTER":{"TYPE":"cloud"},"start":0}'
wrk.headers["Content-Type"] = "application/json"
