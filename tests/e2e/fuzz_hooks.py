"""Schemathesis hooks for test_fuzz_contract.py, loaded by `st` through SCHEMATHESIS_HOOKS.

A random model name is almost never one the server serves, so nearly every generated `/v1` request would
stop at 404 model_not_found. Three times in four a non-empty string `model` becomes one of the served
models (ATRIUM_FUZZ_MODELS), so the requests reach validation, routing, the fake upstreams and their
faults. Schemathesis revalidates a case a hook changed, so a negative case stays classified correctly.
The choice depends on the body alone, so a seed replays the same run.
"""
import json
import os
import random

import schemathesis

MODELS = [name for name in os.environ.get("ATRIUM_FUZZ_MODELS", "").split(",") if name]


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not (MODELS and isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"]):
        return
    chance = random.Random(json.dumps(body, sort_keys=True, default=repr))
    if chance.random() < 0.75:
        body["model"] = chance.choice(MODELS)
