-- A small chat completion with a bearer key, as a client of the gateway sends it.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("ATRIUM_BENCH_KEY")
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
