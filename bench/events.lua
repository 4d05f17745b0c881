-- wrk script for bench/events.sh: POST /api/v1/events with batches of BATCH heartbeat events,
-- every event with a new event_id (so nothing is dropped as a duplicate) and its own viewer
-- per request. VIDEO (a video id) and BATCH come from the environment. wrk itself counts
-- answers other than 2xx ("Non-2xx or 3xx responses"), which the script reports.
local video = os.getenv("VIDEO")
local batch = tonumber(os.getenv("BATCH") or "50")
local next_thread = 1

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local counter = 0

function request()
  counter = counter + 1
  local now = math.floor(os.time() * 1000)
  local parts = {}
  for i = 1, batch do
    local from = (i - 1) * 10
    parts[i] = string.format(
      '{"event_id":"%08x-%04x-4000-8000-%06x%06x","type":"heartbeat","anonymous_id":"v%d-%d",' ..
      '"session_id":"s%d-%d","video_id":"%s","position_s":%d,' ..
      '"properties":{"from_s":%d,"to_s":%d},"occurred_at":%d,"sent_at":%d}',
      thread_id, math.floor(counter / 16777216) % 65536, counter % 16777216, i,
      thread_id, counter, thread_id, counter, video, from + 10, from, from + 10, now - 100, now)
  end
  local body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/events", { ["Content-Type"] = "application/json" }, body)
end
