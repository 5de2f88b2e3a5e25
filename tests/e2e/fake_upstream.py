"""A fake OpenAI-compatible upstream for end-to-end tests: real HTTP/1.1 over a socket, SSE streams.

Its behaviour is chosen by the upstream model name the gateway sends:
  echo-*      answers at once; streams a few chunks (usage when stream_options.include_usage)
  slow-N      streams N chunks (200 when N is not a number), one every 50 ms, recording whether the client went away
  cut-*       streams two chunks, then drops the connection without [DONE]
  hang-*      never answers (first-byte timeout)
  stall-*     streams two chunks, then goes silent (idle timeout)
  reject-*    answers 400 with an OpenAI error
  count-*     like echo-*, but its usage depends on the request (prompt tokens from the prompt's length,
              1 to 6 completion tokens), so sums over many requests are telling
  flaky-*     a count-* model that answers 500 to every third request
  silent-*    like echo-*, but its whole answers report no usage (the gateway estimates it)
  late-*      like echo-*, but answers after 500 ms
and by the whole server's mode, set with POST /_control {"mode": "up"|"down"}: "down" answers 500.
GET /_state reports counters (requests, cancelled streams) so tests can check what reached it.
"""
import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"requests": 0, "cancelled_streams": 0, "completed_streams": 0, "mode": "up", "last_body": None,
         "flaky_calls": 0,
         # x-request-id → the usage this server reported for a response it completed
         "usage": {}}
LOCK = threading.Lock()


def bump(key, amount=1):
    with LOCK:
        STATE[key] += amount


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name_label = "upstream"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_state":
            with LOCK:
                self.send_json(200, dict(STATE))
        elif self.path.endswith("/models"):
            self.send_json(200, {"object": "list", "data": []})
        else:
            self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/_control":
            with LOCK:
                STATE["mode"] = json.loads(raw)["mode"]
            self.send_json(200, {"ok": True})
            return
        bump("requests")
        body = json.loads(raw)
        with LOCK:
            STATE["last_body"] = body
            mode = STATE["mode"]
        if mode == "down":
            self.send_json(500, {"error": {"message": "upstream is down", "type": "server_error"}})
            return
        model = body.get("model", "")
        if model.startswith("flaky-"):
            with LOCK:
                STATE["flaky_calls"] += 1
                fail = STATE["flaky_calls"] % 3 == 0
            if fail:
                # Control characters in the message: the gateway names the failure in a field it passes on.
                self.send_json(500, {"error": {"message": "flaky upstream failed \u001b[31m\u0000", "type": "server_error"}})
                return
        if model.startswith("hang-"):
            time.sleep(30)
            return
        if model.startswith("late-"):
            time.sleep(0.5)
        if model.startswith("reject-"):
            self.send_json(400, {"error": {"message": "upstream says the prompt is bad", "type": "invalid_request_error",
                                           "param": "messages", "code": "bad_prompt"}})
            return
        if self.path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]} for i in range(len(inputs))]
            self.send_json(200, {"object": "list", "data": data, "model": model,
                                 "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})
            return
        chat = self.path.endswith("/chat/completions")
        if body.get("stream"):
            self.stream(body, model, chat)
            return
        text = f"Hello from {self.server.label}"
        prompt, completion = usage_of(body, model)
        choice = {"index": 0, "finish_reason": "stop", "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        answer = {"id": "cmpl-1", "object": "chat.completion" if chat else "text_completion",
                  "created": int(time.time()), "model": model, "choices": [choice],
                  "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}
        if model.startswith("silent-"):
            del answer["usage"]
        self.send_json(200, answer)
        self.reported(prompt, completion)

    def reported(self, prompt, completion):
        request_id = self.headers.get("x-request-id")
        if request_id:
            with LOCK:
                STATE["usage"][request_id] = [prompt, completion]

    def write_chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.write_chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def stream(self, body, model, chat):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        words = ["Hello", " from", " ", self.server.label]
        prompt, completion = usage_of(body, model)
        if counted(model):
            words = [f" t{i}" for i in range(completion)]
        if model.startswith("slow-"):
            count = model.split("-")[1]
            words = [f" w{i}" for i in range(int(count) if count.isdigit() else 200)]

        def chunk(delta_text, finish=None):
            if chat:
                choice = {"index": 0, "delta": {"content": delta_text} if delta_text is not None else {}, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": delta_text or "", "finish_reason": finish}
            return {"id": "cmpl-1", "object": "chat.completion.chunk" if chat else "text_completion", "created": 1,
                    "model": model, "choices": [choice]}

        try:
            for i, word in enumerate(words):
                self.event(chunk(word))
                if model.startswith("stall-") and i == 1:
                    time.sleep(30)
                    return
                if model.startswith("cut-") and i == 1:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                if model.startswith("slow-"):
                    time.sleep(0.05)
            self.event(chunk(None, "stop"))
            usage_sent = (body.get("stream_options") or {}).get("include_usage")
            if usage_sent:
                self.event({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                            "usage": {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}})
            self.write_chunk(b"data: [DONE]\n\n")
            self.write_chunk(b"")
            bump("completed_streams")
            if usage_sent:
                self.reported(prompt, len(words))
        except (BrokenPipeError, ConnectionResetError):
            bump("cancelled_streams")
            self.close_connection = True


def counted(model):
    return model.startswith("count-") or model.startswith("flaky-")


def usage_of(body, model):
    """(prompt, completion) tokens this server reports for a request."""
    if not counted(model):
        return 5, 4
    prompt = 3 + len(json.dumps(body.get("messages") or body.get("prompt") or "")) // 4
    return prompt, 1 + prompt % 6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--label", default="upstream")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.label = args.label
    print(f"fake upstream {args.label} on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
