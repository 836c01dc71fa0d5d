"""Baseline of perf-anchors.md "Anchor 2": bare Starlette + orjson, canned body.

The same server as the anchor's `app_starlette_orjson.py`: it parses the request
body and serialises the canned ~1.3 KB `voximplant.sip.get` envelope (3 lines,
`total` 3, a `time` block; 1,316 bytes) on every request. The body is inlined
here instead of read from `body.min.json` so that the file stands alone.

    uvicorn baseline_app:app --host 127.0.0.1 --port P --workers 1 \
        --loop uvloop --http httptools --no-access-log
"""

import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY_JSON = b'{"result":[{"TYPE":"cloud","CONFIG_ID":"3","REG_ID":"150907","SERVER":"sipnet.com","LOGIN":"0045281811","PASSWORD":"N7K4mCG9","AUTH_USER":"","OUTBOUND_PROXY":"","DETECT_LINE_NUMBER":"N","LINE_DETECT_HEADER_ORDER":"diversion;to","REGISTRATION_STATUS_CODE":"200","REGISTRATION_ERROR_MESSAGE":"","TITLE":"SIP line"},{"TYPE":"cloud","CONFIG_ID":"5","REG_ID":"150911","SERVER":"sip.zadarma.com","LOGIN":"284715","PASSWORD":"x9QpL2vR","AUTH_USER":"284715","OUTBOUND_PROXY":"","DETECT_LINE_NUMBER":"Y","LINE_DETECT_HEADER_ORDER":"diversion;to","REGISTRATION_STATUS_CODE":"401","REGISTRATION_ERROR_MESSAGE":"Unauthorized","TITLE":"Zadarma"},{"TYPE":"office","CONFIG_ID":"7","SERVER":"office.provider.local","LOGIN":"office_user","PASSWORD":"secret","INCOMING_SERVER":"ip.b24-6068-1537535782.bitrixphone.com","INCOMING_LOGIN":"sip7","INCOMING_PASSWORD":"71747523265mb091225eb31996a4a225","AUTH_USER":null,"OUTBOUND_PROXY":null,"DETECT_LINE_NUMBER":"N","LINE_DETECT_HEADER_ORDER":"diversion;to","REGISTRATION_STATUS_CODE":"0","REGISTRATION_ERROR_MESSAGE":null,"TITLE":"Office PBX 1"}],"total":3,"time":{"start":1773654128,"finish":1773654128.048472,"duration":0.048471927642822266,"processing":0,"date_start":"2026-03-16T12:42:08+02:00","date_finish":"2026-03-16T12:42:08+02:00","operating_reset_at":1773654728,"operating":0}}'  # noqa: E501
BODY = orjson.loads(BODY_JSON)


async def rest(request):
    orjson.loads(await request.body())  # parse the request body like a real handler would
    return Response(orjson.dumps(BODY), media_type="application/json")


app = Starlette(routes=[Route("/rest/{user}/{code}/{method}", rest, methods=["POST"])])
