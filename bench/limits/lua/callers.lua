-- wrk script for bench/limits/server.py: POST {} to voximplant.sip.get through the
-- webhooks listed (one code a line) in the file given as the first argument, round-robin,
-- so that no caller's request bucket (50, draining at 2/s) ever refuses a call.
local codes = {}
local n = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for line in io.lines(args[1]) do
    codes[#codes + 1] = line
  end
  if #codes == 0 then
    error("no webhook codes in " .. tostring(args[1]))
  end
end

function request()
  n = n + 1
  local code = codes[(n % #codes) + 1]
  return wrk.format("POST", "/rest/1/" .. code .. "/voximplant.sip.get", headers, "{}")
end
