-- wrk script for the Trunkline scenarios (bench/README.md).
--
--   wrk ... -s bench/lua/trunkline.lua http://127.0.0.1:PORT -- MODE FIRST STEP COUNT LINES TAG
--
-- Portals FIRST, FIRST+STEP, ... (COUNT of them) are called through their webhooks
-- /rest/1/bench<portal id as 11 digits>/ (the codes bench/load.py gives them).
--   page  POST {} to voximplant.sip.get: the first 50-row page, with total and next
--   one   POST {"FILTER":{"CONFIG_ID":n}} to voximplant.sip.get, n in 1..LINES
--   add   POST an office line to voximplant.sip.add, TITLE "bench TAG <counter>"
--         (unique: TAG differs per wrk run), one portal after the other
-- page and one cycle through COUNT requests prepared in init(); add builds each
-- request as it goes, since its body changes every time.

local mode, first, step, count, lines, tag
local prepared = {}
local n = 0
local headers = { ["Content-Type"] = "application/json" }

local function path(portal, method)
  return string.format("/rest/1/bench%011d/%s", portal, method)
end

function init(args)
  mode = args[1]
  first, step, count = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  lines, tag = tonumber(args[5]), args[6] or "t"
  if mode == "page" then
    for k = 0, count - 1 do
      prepared[#prepared + 1] = wrk.format("POST", path(first + k * step, "voximplant.sip.get"), headers, "{}")
    end
  elseif mode == "one" then
    for k = 0, count - 1 do
      local config_id = (k * 37) % lines + 1
      local body = string.format('{"FILTER":{"CONFIG_ID":%d}}', config_id)
      prepared[#prepared + 1] = wrk.format("POST", path(first + k * step, "voximplant.sip.get"), headers, body)
    end
  elseif mode ~= "add" then
    error("unknown mode " .. tostring(mode))
  end
end

function request()
  n = n + 1
  if mode == "add" then
    local portal = first + (n % count) * step
    local body = string.format(
      '{"TYPE":"office","TITLE":"bench %s %d","SERVER":"pbx.example.com","LOGIN":"user%d","PASSWORD":"secret%d"}',
      tag, n, n, n)
    return wrk.format("POST", path(portal, "voximplant.sip.add"), headers, body)
  end
  return prepared[(n % count) + 1]
end
