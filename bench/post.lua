-- wrk script: POST /api/probe/items with a name unique to this run, thread and request,
-- so that every create succeeds (a 409 would be measured as an error).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  prefix = (args[1] or "run") .. "-" .. tid .. "-"
  counter = 0
end

function request()
  counter = counter + 1
  local body = '{"name": "' .. prefix .. counter .. '"}'
  return wrk.format("POST", "/api/probe/items", {["Content-Type"] = "application/json"}, body)
end
