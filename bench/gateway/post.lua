-- A small chat completion with a bearer key, as a client of the gateway sends it.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("ATRIUM_BENCH_KEY")
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'

-- p50, p99 and p99.9 in microseconds, for run.sh (wrk's --latency table stops at p99).
function done(summary, latency, requests)
    io.write(string.format("percentiles_us %d %d %d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
