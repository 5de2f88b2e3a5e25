-- wrk script: GETs the paths in PATHS (space-separated, taken in turn), with the session cookie in
-- COOKIE when set, and prints the latency percentiles and rates as one JSON line when done.
local paths = {}
for path in string.gmatch(os.getenv("PATHS") or "/", "%S+") do table.insert(paths, path) end
local cookie = os.getenv("COOKIE")
local counter = 0

request = function()
    counter = counter + 1
    local headers = { ["Accept"] = "text/html", ["Accept-Language"] = "en" }
    if cookie and cookie ~= "" then headers["Cookie"] = "atrium_session=" .. cookie end
    return wrk.format("GET", paths[(counter % #paths) + 1], headers)
end

done = function(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    io.write(string.format(
        '{"requests": %d, "rps": %.1f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "errors": %d}\n',
        summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, bad))
end
