-- wrk script of the telephony bench (bench/telephony/README.md).
--
--   wrk ... -s bench/telephony/lua/telephony.lua http://127.0.0.1:PORT -- MODE FIRST STEP COUNT TAG
--
-- Portals FIRST, FIRST+STEP, ... (COUNT of them) through their webhooks
-- /rest/1/bench<portal id as 11 digits>/.
--   page  POST {} to voximplant.statistic.get: the first 50-row page, with total and next
--   pair  telephony.externalCall.register (a new number each time: no re-registration),
--         then telephony.externalCall.finish of a CALL_ID an earlier answer carried; the
--         figure is requests/s, pairs/s is half of it. wrk cannot tell which request an
--         answer belongs to, so the pairs of a run stay in one portal (FIRST: the last portal, which the pages never read).

local mode, first, step, count, tag
local prepared = {}
local n = 0
local pending = {}  -- CALL_IDs registered and not yet finished, with their portal
local headers = { ["Content-Type"] = "application/json" }

local function path(portal, method)
  return string.format("/rest/1/bench%011d/%s", portal, method)
end

function init(args)
  mode = args[1]
  first, step, count = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  tag = args[5] or "t"
  if mode == "page" then
    for k = 0, count - 1 do
      prepared[#prepared + 1] = wrk.format("POST", path(first + k * step, "voximplant.statistic.get"), headers, "{}")
    end
  elseif mode ~= "pair" then
    error("unknown mode " .. tostring(mode))
  end
end

function request()
  n = n + 1
  if mode == "page" then
    return prepared[(n % count) + 1]
  end
  local item = table.remove(pending, 1)
  if item then
    local body = string.format('{"CALL_ID":"%s","USER_ID":1,"DURATION":%d}', item.call, n % 90)
    return wrk.format("POST", path(first, "telephony.externalCall.finish"), headers, body)
  end
  local body = string.format(
    '{"USER_ID":1,"PHONE_NUMBER":"7%010d","TYPE":2,"EXTERNAL_CALL_ID":"%s-%d"}', n, tag, n)
  return wrk.format("POST", path(first, "telephony.externalCall.register"), headers, body)
end

function response(status, headers, body)
  if mode ~= "pair" then return end
  if status == 200 and string.find(body, '"CRM_CREATED_LEAD"', 1, true) then
    local call = string.match(body, '"CALL_ID":"(externalCall%.[0-9a-f]+%.[0-9]+)"')
    if call then pending[#pending + 1] = { call = call } end
  end
end
