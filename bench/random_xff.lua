-- wrk script: every request comes from a different client address (X-Forwarded-For), so a
-- rate limit keyed on client_ip behind a trusted proxy tracks many distinct keys.
local counter = 0
request = function()
  counter = counter + 1
  local a = (counter // 65536) % 256
  local b = (counter // 256) % 256
  local c = counter % 256
  wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", a, b, c)
  return wrk.format(nil, "/")
end
