#!/usr/bin/env python3
"""Golden renders of chat templates for AtriumML's Jinja engine, made with Python's jinja2 set up exactly
as transformers' `apply_chat_template` sets it up (`ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True)` with the loopcontrols extension, the `generation` tag, `raise_exception`, `strftime_now`
and transformers' own `tojson` filter), and with transformers' render call (`tools` and `documents` are
always passed, as None when absent, next to the special tokens).

Real templates are copied verbatim from the models' `tokenizer_config.json` (SmolLM2's is read from its
GGUF); each is rendered on 8-18 conversations. About 90 small synthetic templates check one feature each,
and 45 more must fail where jinja2 fails.
A case is {"name", "template", "context", "output"}, or {"name", "template", "context", "error"} where
"error" is a substring that jinja2's message contains and AtriumML's must contain too ("line" too, for
syntax errors). `strftime_now` is pinned to "now" in the file so Llama 3.2's date is reproducible.

    pip install jinja2
    python tests/golden/make_chat_template_golden.py [.cache/smollm2-135m-instruct.Q4_1.gguf]
"""
import datetime
import json
import os
import struct
import sys

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOW = datetime.datetime(2024, 9, 25, 10, 11, 12)


# --- transformers' environment (src/transformers/utils/chat_template_utils.py) ---

class AssistantTracker(Extension):
    """The `{% generation %}` tag: renders its body (transformers also records its span)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides jinja2's tojson, which would HTML-escape
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return NOW.strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# --- SmolLM2's template, from its GGUF metadata ---

def gguf_string(path, wanted):
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    with open(path, "rb") as f:
        def read(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))[0]

        def string():
            return f.read(read("Q")).decode("utf-8")

        def skip(kind):
            if kind == 8:
                f.seek(read("Q"), 1)
            elif kind == 9:
                item, count = read("I"), read("Q")
                if item in scalar:
                    f.seek(count * struct.calcsize(scalar[item]), 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                f.seek(struct.calcsize(scalar[kind]), 1)

        assert f.read(4) == b"GGUF", "not a GGUF file"
        read("I"), read("Q")
        for _ in range(read("Q")):
            key, kind = string(), read("I")
            if key == wanted and kind == 8:
                return string()
            skip(kind)
    raise KeyError(wanted)


# --- real templates, verbatim ---

CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

# meta-llama/Llama-3.1-8B-Instruct
LLAMA31 = "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n{#- This block extracts the system message, so we can slot it into the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n\n{#- System message + builtin tools #}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{%- if builtin_tools is defined or tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n{%- if builtin_tools is defined %}\n    {{- \"Tools: \" + builtin_tools | reject('equalto', 'code_interpreter') | join(\", \") + \"\\n\\n\"}}\n{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n\n{#- Custom tools are passed in a user message with some extra guidance #}\n{%- if tools_in_user_message and not tools is none %}\n    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n    {{- first_user_message + \"<|eot_id|>\"}}\n{%- endif %}\n\n{%- for message in messages %}\n    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- \"<|python_tag|>\" + tool_call.name + \".call(\" }}\n            {%- for arg_name, arg_val in tool_call.arguments | items %}\n                {{- arg_name + '=\"' + arg_val + '\"' }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- endif %}\n                {%- endfor %}\n            {{- \")\" }}\n        {%- else  %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n            {{- '\"parameters\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- \"}\" }}\n        {%- endif %}\n        {%- if builtin_tools is defined %}\n            {#- This means we're in ipython mode #}\n            {{- \"<|eom_id|>\" }}\n        {%- else %}\n            {{- \"<|eot_id|>\" }}\n        {%- endif %}\n    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"

# meta-llama/Llama-3.2-1B-Instruct
LLAMA32 = "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n{#- This block extracts the system message, so we can slot it into the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n\n{#- System message #}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{%- if tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n\n{#- Custom tools are passed in a user message with some extra guidance #}\n{%- if tools_in_user_message and not tools is none %}\n    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n    {{- first_user_message + \"<|eot_id|>\"}}\n{%- endif %}\n\n{%- for message in messages %}\n    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n        {{- '\"parameters\": ' }}\n        {{- tool_call.arguments | tojson }}\n        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"

# mistralai/Mistral-7B-Instruct-v0.3
MISTRAL_V03 = "{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n\n{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n{%- for message in loop_messages %}\n    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n            {{- raise_exception(\"After the optional system message, conversation roles must alternate user/assistant/user/assistant/...\") }}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n{%- endfor %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS][\" }}\n            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n                {{- '{\"type\": \"function\", \"function\": {' }}\n                {%- for key, val in tool.items() if key != \"return\" %}\n                    {%- if val is string %}\n                        {{- '\"' + key + '\": \"' + val + '\"' }}\n                    {%- else %}\n                        {{- '\"' + key + '\": ' + val|tojson }}\n                    {%- endif %}\n                    {%- if not loop.last %}\n                        {{- \", \" }}\n                    {%- endif %}\n                {%- endfor %}\n                {{- \"}}\" }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- else %}\n                    {{- \"]\" }}\n                {%- endif %}\n            {%- endfor %}\n            {{- \"[/AVAILABLE_TOOLS]\" }}\n            {%- endif %}\n        {%- if loop.last and system_message is defined %}\n            {{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}\n        {{- \"[TOOL_CALLS][\" }}\n        {%- for tool_call in message.tool_calls %}\n            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n            {%- endif %}\n            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n            {%- if not loop.last %}\n                {{- \", \" }}\n            {%- else %}\n                {{- \"]\" + eos_token }}\n            {%- endif %}\n        {%- endfor %}\n    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- message[\"content\"] + eos_token}}\n    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n        {%- if message.content is defined and message.content.content is defined %}\n            {%- set content = message.content.content %}\n        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n        {{- '[TOOL_RESULTS]{\"content\": ' + content|string + \", \" }}\n        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n        {%- endif %}\n        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n    {%- else %}\n        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial optional system message!\") }}\n    {%- endif %}\n{%- endfor %}\n"

# google/gemma-2b-it
GEMMA = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"

# Qwen/Qwen2.5-0.5B-Instruct
QWEN25 = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"

# A Qwen3 thinking model's tokenizer_config.json (Qwen3-2507 family: model_max_length 262144)
QWEN3_THINKING = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0].role == 'system' %}\n        {{- messages[0].content + '\\n\\n' }}\n    {%- endif %}\n    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0].role == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n{%- for message in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n        {%- set ns.multi_step_tool = false %}\n        {%- set ns.last_query_index = index %}\n    {%- endif %}\n{%- endfor %}\n{%- for message in messages %}\n    {%- if message.content is string %}\n        {%- set content = message.content %}\n    {%- else %}\n        {%- set content = '' %}\n    {%- endif %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {%- set reasoning_content = '' %}\n        {%- if message.reasoning_content is string %}\n            {%- set reasoning_content = message.reasoning_content %}\n        {%- else %}\n            {%- if '</think>' in content %}\n                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n            {%- endif %}\n        {%- endif %}\n        {%- if loop.index0 > ns.last_query_index %}\n            {%- if loop.last or (not loop.last and reasoning_content) %}\n                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n            {%- else %}\n                {{- '<|im_start|>' + message.role + '\\n' + content }}\n            {%- endif %}\n        {%- else %}\n            {{- '<|im_start|>' + message.role + '\\n' + content }}\n        {%- endif %}\n        {%- if message.tool_calls %}\n            {%- for tool_call in message.tool_calls %}\n                {%- if (loop.first and content) or (not loop.first) %}\n                    {{- '\\n' }}\n                {%- endif %}\n                {%- if tool_call.function %}\n                    {%- set tool_call = tool_call.function %}\n                {%- endif %}\n                {{- '<tool_call>\\n{\"name\": \"' }}\n                {{- tool_call.name }}\n                {{- '\", \"arguments\": ' }}\n                {%- if tool_call.arguments is string %}\n                    {{- tool_call.arguments }}\n                {%- else %}\n                    {{- tool_call.arguments | tojson }}\n                {%- endif %}\n                {{- '}\\n</tool_call>' }}\n            {%- endfor %}\n        {%- endif %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}"

# microsoft/Phi-3-mini-4k-instruct
PHI3 = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"

# microsoft/Phi-3.5-mini-instruct
PHI35 = "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"

# HuggingFaceH4/zephyr-7b-beta
ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"

# deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
DEEPSEEK_R1 = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"

# TheBloke/deepseek-coder-33B-instruct-AWQ: relies on a `set` inside a loop not leaking out of it
DEEPSEEK_CODER = "{%- set found_item = false -%}\n{%- for message in messages -%}\n    {%- if message['role'] == 'system' -%}\n        {%- set found_item = true -%}\n    {%- endif -%}\n{%- endfor -%}\n{%- if not found_item -%}\n{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer.\\n'}}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{{'### Response:\\n'}}\n"


# --- conversations ---

def msg(role, content, **extra):
    return {"role": role, "content": content, **extra}


SYSTEM = msg("system", "You are a helpful assistant.")
GREETING = [msg("user", "Hello!")]
MULTI_TURN = [msg("user", "Hi there"), msg("assistant", "Hello! How can I help you today?"), msg("user", "Tell me a joke.")]
CONVERSATIONS = {
    "user": GREETING,
    "system_user": [SYSTEM, msg("user", "What is 2+2?")],
    "multi_turn": MULTI_TURN,
    "system_multi_turn": [SYSTEM, *MULTI_TURN],
    "special_tokens": [msg("user", "<|im_start|>system\nignore<|im_end|> [INST] </s><s> <|eot_id|> <start_of_turn>model {{ not jinja }} {% raw %}")],
    "unicode": [msg("user", "Ελληνικά, 日本語, emoji 🙂👍🏽🇫🇷, e\u0301 combining, zero\u200bwidth, \u00a0nbsp ½")],
    "whitespace": [msg("user", "  leading and trailing spaces  \n\n"), msg("assistant", "\n\tindented\r\nwindows line\n"), msg("user", "line1\nline2")],
    "empty_content": [msg("user", ""), msg("assistant", ""), msg("user", "still here?")],
    "assistant_last": [msg("user", "Say hi"), msg("assistant", "Hi!")],
}
NO_SYSTEM = ["user", "multi_turn", "special_tokens", "unicode", "whitespace", "empty_content", "assistant_last"]
ALL = ["user", "system_user", "multi_turn", "system_multi_turn", "special_tokens", "unicode", "whitespace", "empty_content", "assistant_last"]

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Température unit"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
        "required": ["location"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
TOOLS = [WEATHER, SEARCH]
CALL = {"id": "call12345", "type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Paris, France", "unit": "celsius", "days": 2, "detailed": True, "ratio": 0.5, "extra": None}}}
CALL_B = {"id": "call67890", "type": "function", "function": {"name": "search", "arguments": {"query": "météo \"Paris\""}}}
TOOL_ROUND_TRIP = [msg("user", "What's the weather in Paris?"), msg("assistant", None, tool_calls=[CALL]),
                   msg("tool", "22.0", tool_call_id="call12345", name="get_current_weather"), msg("assistant", "It is 22 °C in Paris."), msg("user", "Thanks!")]
TWO_CALLS = [msg("user", "Weather and news for Paris?"), msg("assistant", None, tool_calls=[CALL, CALL_B]),
             msg("tool", "22.0", tool_call_id="call12345"), msg("tool", "{\"results\": []}", tool_call_id="call67890")]

SPECIALS = {
    "smollm2": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "chatml": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "qwen": {"eos_token": "<|im_end|>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "zephyr": {"bos_token": "<s>", "eos_token": "</s>"},
    "deepseek": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek_coder": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<|EOT|>"},
}


def chat_context(specials, messages, add_generation_prompt, tools=None, **extra):
    # the keyword arguments transformers' render_jinja_template passes
    return {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": add_generation_prompt,
            **SPECIALS[specials], **extra}


def model_cases(family, template, specials, conversations, extra=()):
    cases = []
    for name in conversations:
        cases.append((f"{family}/{name}", template, chat_context(specials, CONVERSATIONS[name], True)))
    for name in ("multi_turn", "assistant_last"):
        if name in conversations:
            cases.append((f"{family}/{name}/no_generation_prompt", template, chat_context(specials, CONVERSATIONS[name], False)))
    return cases + [(f"{family}/{name}", template, context) for name, context in extra]


def real_template_cases(smollm2):
    llama_tools = [
        ("tools", chat_context("llama3", [SYSTEM, msg("user", "What's the weather in Paris?")], True, TOOLS)),
        ("tool_round_trip", chat_context("llama3", TOOL_ROUND_TRIP, True, TOOLS)),
        ("tools_in_system", chat_context("llama3", [SYSTEM, *TOOL_ROUND_TRIP], True, TOOLS, tools_in_user_message=False)),
        ("custom_date", chat_context("llama3", GREETING, True, date_string="01 Jan 2025")),
    ]
    llama31_extra = llama_tools + [
        ("builtin_tools", chat_context("llama3", [msg("user", "Search the news"), msg("assistant", None, tool_calls=[
            {"type": "function", "function": {"name": "brave_search", "arguments": {"query": "news today"}}}]),
            msg("ipython", {"results": ["a", "b"]})], True, builtin_tools=["brave_search", "code_interpreter", "wolfram_alpha"])),
    ]
    qwen_extra = [
        ("tools", chat_context("qwen", [msg("user", "What's the weather in Paris?")], True, TOOLS)),
        ("tools_system", chat_context("qwen", [SYSTEM, *TOOL_ROUND_TRIP], True, TOOLS)),
        ("two_tool_calls", chat_context("qwen", TWO_CALLS, True, TOOLS)),
        ("content_and_call", chat_context("qwen", [msg("user", "Weather?"), msg("assistant", "Let me check.", tool_calls=[{"function": CALL["function"]}])], False, TOOLS)),
    ]
    mistral_extra = [
        ("tools", chat_context("mistral", [msg("user", "What's the weather in Paris?")], False, TOOLS)),
        ("tool_round_trip", chat_context("mistral", TOOL_ROUND_TRIP, False, TOOLS)),
        ("system_tools", chat_context("mistral", [SYSTEM, *TOOL_ROUND_TRIP], False, TOOLS)),
    ]
    deepseek_extra = [
        ("thinking_stripped", chat_context("deepseek", [msg("user", "2+2?"), msg("assistant", "<think>\nsimple sum\n</think>\n\nIt is 4."), msg("user", "And 3+3?")], True)),
        ("tool_calls", chat_context("deepseek", [msg("user", "Weather?"), msg("assistant", None, tool_calls=[
            {"type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Paris\"}"}},
            {"type": "function", "function": {"name": "search", "arguments": "{\"query\": \"Paris\"}"}}]),
            msg("tool", "22.0"), msg("tool", "sunny"), msg("assistant", "Sunny, 22 °C.")], True)),
        ("tool_output_last", chat_context("deepseek", [msg("user", "Weather?"), msg("assistant", None, tool_calls=[
            {"type": "function", "function": {"name": "search", "arguments": "{}"}}]), msg("tool", "ok")], True)),
    ]
    qwen3_extra = [
        ("reasoning_history", chat_context("qwen", [msg("user", "2+2?"), msg("assistant", "<think>\nadd them\n</think>\n\nIt is 4."), msg("user", "And 3+3?")], True)),
        ("reasoning_last", chat_context("qwen", [msg("user", "2+2?"), msg("assistant", "<think>\n\nadd them\n\n</think>\n\n\nIt is 4.")], False)),
        ("reasoning_field", chat_context("qwen", [msg("user", "Hi"), msg("assistant", "Hello!", reasoning_content="\nbe nice\n")], False)),
        ("tools", chat_context("qwen", [SYSTEM, msg("user", "What's the weather in Paris?")], True, TOOLS)),
        ("multi_step_tools", chat_context("qwen", [msg("user", "Weather?"), msg("assistant", "<think>need tool</think>", tool_calls=[
            {"type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Paris\"}"}}, CALL_B]),
            msg("tool", "22.0"), msg("tool", "<tool_response>nested</tool_response>"), msg("assistant", "<think>\ndone\n</think>\nSunny.")], True, TOOLS)),
        ("tool_response_as_user", chat_context("qwen", [msg("user", "<tool_response>x</tool_response>"), msg("assistant", "ok")], True)),
    ]
    cases = []
    cases += model_cases("smollm2", smollm2, "smollm2", ALL)
    cases += model_cases("chatml", CHATML, "chatml", ALL)
    cases += model_cases("llama3", LLAMA3, "llama3", ALL)
    cases += model_cases("llama3.1", LLAMA31, "llama3", ALL, llama31_extra)
    cases += model_cases("llama3.2", LLAMA32, "llama3", ["user", "system_multi_turn", "unicode", "whitespace"], llama_tools)
    cases += model_cases("mistral-v0.3", MISTRAL_V03, "mistral", ALL, mistral_extra)
    cases += model_cases("gemma", GEMMA, "gemma", NO_SYSTEM)
    cases += model_cases("qwen2.5", QWEN25, "qwen", ALL, qwen_extra)
    cases += model_cases("qwen3-thinking", QWEN3_THINKING, "qwen", ALL, qwen3_extra)
    cases += model_cases("phi3", PHI3, "phi3", ALL)
    cases += model_cases("phi3.5", PHI35, "phi3", ALL, [("empty_system", chat_context("phi3", [msg("system", ""), msg("user", "Hi")], True))])
    cases += model_cases("zephyr", ZEPHYR, "zephyr", ALL)
    cases += model_cases("deepseek-r1", DEEPSEEK_R1, "deepseek", ALL, deepseek_extra)
    cases += model_cases("deepseek-coder", DEEPSEEK_CODER, "deepseek_coder", ALL)
    errors = [
        ("gemma/system_role", GEMMA, chat_context("gemma", [SYSTEM, msg("user", "Hi")], True), "System role not supported"),
        ("gemma/two_user_turns", GEMMA, chat_context("gemma", [msg("user", "Hi"), msg("user", "Hello?")], True),
         "Conversation roles must alternate user/assistant/user/assistant/..."),
        ("mistral-v0.3/two_user_turns", MISTRAL_V03, chat_context("mistral", [msg("user", "Hi"), msg("user", "Hello?")], False),
         "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."),
        ("mistral-v0.3/assistant_first", MISTRAL_V03, chat_context("mistral", [msg("assistant", "Hi"), msg("user", "Hello?")], False),
         "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."),
        ("mistral-v0.3/short_tool_call_id", MISTRAL_V03, chat_context("mistral", [msg("user", "Hi"), msg("assistant", None, tool_calls=[{**CALL, "id": "abc"}])], False),
         "Tool call IDs should be alphanumeric strings with length 9!"),
        ("llama3.1/two_tool_calls", LLAMA31, chat_context("llama3", TWO_CALLS, True, TOOLS), "This model only supports single tool-calls at once!"),
        ("llama3.1/tools_without_user_message", LLAMA31, chat_context("llama3", [SYSTEM], True, TOOLS),
         "Cannot put tools in the first user message when there's no first user message!"),
        ("phi3/missing_content", PHI3, chat_context("phi3", [{"role": "user"}], True), "'dict object' has no attribute 'content'"),
    ]
    return cases, errors


# --- one feature at a time ---

MS = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "tool_calls": []}, {"role": "user", "content": "c"}]
NESTED = {"b": [1, 2.5, None, True, {}], "a": [], "é": "ü\n\t\"\\", "ctl": "\x01\x1f\x7f\u2028", "f": [1.0, 1e16, 1e-05, -0.0, 0.1]}

SYNTHETIC = [
    # whitespace control, trim_blocks and lstrip_blocks
    ("ws/trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter\n{% for x in [1, 2] %}\n{{ x }}\n{% endfor %}\nend", {}),
    ("ws/lstrip_blocks", "  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n  {#- c #}\n  z", {}),
    ("ws/minus_both_sides", "a {%- if true -%}  b  {%- endif -%}  c\n  {{- 'd' -}}  \n  e", {}),
    ("ws/plus_disables", "a\n  {%+ if true %}b{% endif +%}\nc", {}),
    ("ws/variable_minus", "a  {{- 'b' -}}  c\n{{ 'd' }}\n{# com #}\ne", {}),
    ("ws/crlf_normalized", "line1\r\n{% if true %}\r\n  x\r\n{% endif %}\r\nend\r\n", {}),
    ("ws/one_trailing_newline_dropped", "x\n\n", {}),
    ("ws/raw", "{% raw %}{{ a }}{% endraw %}|  {% raw %} x {% endraw %}\nb\n  {% raw -%}  y  {%- endraw %}z", {}),
    ("ws/comment_lstrip", "a\n    {# comment #}\nb\n{#- gone -#}\n  c", {}),
    ("ws/tabs", "\t{% for x in [1, 2] %}\n\t{{ x }}\n\t{% endfor %}\n", {}),
    ("ws/minus_newlines", "{%- for x in [1, 2] -%}\n  {{ x }}\n{%- endfor %}\n", {}),
    ("ws/not_line_start", "{{ 'a' }}  {% if true %}b{% endif %}  \n  {% if true %}c{% endif %}", {}),
    ("ws/lstrip_unicode_space", "\u00a0\u2003{% if true %}x{% endif %}", {}),
    # literals and printing
    ("print/literals", "{{ 1 }}|{{ 1.0 }}|{{ 1.5e3 }}|{{ 1_000 }}|{{ 0x1f }}|{{ 0o17 }}|{{ 0b101 }}|{{ true }}|{{ False }}|{{ none }}|{{ None }}|{{ 'a' 'b' \"c\" }}", {}),
    ("print/string_escapes", r"""{{ 'tab\there' }}|{{ "q\"uote" }}|{{ 'nl\nx' }}|{{ '\u00e9\x41\U0001F600' }}|{{ 'back\\slash' }}|{{ 'unknown\d' }}|{{ 'it\'s' }}|{{ '\101' }}""", {}),
    ("print/containers", "{{ [1, 'a', none, true, 1.5, {'k': [1, (2, 3)]}] }}|{{ (1,) }}|{{ () }}|{{ {} }}|{{ [] }}|{{ x }}", {"x": {"n": None, "l": [{"a": False}]}}),
    ("print/string_repr", "{{ [\"it's\", 'a\"b', 'x\\ny', 'é\\u200b\\t\\x00', 'both\\'\"', '\\\\'] }}", {}),
    ("print/floats", "{{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 0.1 + 0.2 }} {{ 10 / 2 }} {{ -0.0 }} {{ 1 / 3 }} {{ 2.5e-5 }} {{ 123456789012345678.0 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 1e300 * 1e300 }} {{ x }}", {"x": [0.5, 100.0, 1e22]}),
    ("print/tuple_statement", "{{ 1, 'a' }}", {}),
    # operators
    ("ops/arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }} {{ 1 + true }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ 'ab' * 0 }} {{ 2 ** 0.5 }} {{ 5 / 2 }} {{ -(3) }} {{ +3 }} {{ 1 - 0.5 }} {{ 6 / 3 }} {{ 2 * 2.5 }} {{ -2 ** 2 }}", {}),
    ("ops/concat", "{{ 'a' ~ 1 ~ none ~ undefined_var ~ true ~ [1, 'x'] ~ 1.5 }}|{{ [1] + [2] }}|{{ (1,) + (2,) }}", {}),
    ("ops/precedence", "{{ 'a' + b | trim + 'c' }}|{{ -x|abs }}|{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ not true or true }}|{{ not (true or true) }}|{{ 2 * 3 ~ 4 }}|{{ 1 + 1 == 2 }}|{{ 'ab' ~ 'c' | upper }}", {"b": "  B  ", "x": 3}),
    ("ops/compare", "{{ 1 == true }}{{ 1.0 == 1 }}{{ 'a' < 'b' }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ [1, 2] == [1, 2] }}{{ {'a': 1} == {'a': 1} }}{{ 'a' != 'b' }}{{ none == none }}{{ [1, 2] < [1, 3] }}{{ 'B' < 'a' }}{{ 2 >= 2.0 }}{{ x == y }}{{ x == none }}{{ 'é' > 'z' }}", {}),
    ("ops/in", "{{ 'a' in 'cat' }}{{ 'x' not in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ not 1 in [1] }}{{ 'a' in undefined_var }}{{ '' in 'abc' }}{{ 1 in (1, 2) }}{{ 1.0 in [1] }}", {}),
    ("ops/and_or_values", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ [] or none }}|{{ 0 and undefined_var.x }}|{{ 1 or undefined_var.x }}", {}),
    ("ops/truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0, 0.5, ' ', false] %}{{ 'T' if v else 'F' }}{% endfor %}{{ 'T' if undefined_var else 'F' }}", {}),
    ("ops/condexpr", "{{ 1 if true else 2 if false else 3 }}|{{ 'a' if none }}|{{ (x if false) is defined }}|{{ 'y' if false else 'n' }}|{{ ('a' if true else 'b') ~ 'c' }}", {}),
    # tests
    ("tests/types", "{{ true is number }}{{ true is integer }}{{ 1 is boolean }}{{ 1.0 is integer }}{{ 1.0 is float }}{{ 1 is number }}{{ 'a' is string }}{{ [] is sequence }}{{ {} is mapping }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ none is none }}{{ true is true }}{{ 0 is false }}{{ false is false }}{{ true is boolean }}{{ 'a' is sequence }}{{ {} is sequence }}{{ x is mapping }}{{ none is string }}", {"x": {"a": 1}}),
    ("tests/undefined", "{{ x is defined }}{{ x is undefined }}{{ x is not defined }}{{ not x is defined }}{{ x is iterable }}{{ x is sequence }}{{ x is mapping }}{{ x is none }}{{ x is string }}|{{ x|length }}|{{ y is defined }}{{ y is none }}{{ d.k is defined }}{{ d.z is defined }}", {"y": None, "d": {"k": 0}}),
    ("tests/values", "{{ 2 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 1 is lt 2 }}{{ 1 is le 0 }}{{ 1 is ne 2 }}{{ 'x' is in 'xyz' }}{{ 'a' is lower }}{{ 'A' is upper }}{{ 1 is sameas 1 }}{{ none is sameas none }}{{ 2 is greaterthan 1 }}{{ 1 is lessthan 1 }}", {}),
    # loops
    ("loop/variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('o', 'e') }}{{ loop.depth }}{{ loop.depth0 }};{% endfor %}", {}),
    ("loop/filter_and_else", "{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}/{{ loop.length }}:{{ x }}{{ ',' if not loop.last }}{% else %}none{% endfor %}|{% for x in [] %}a{% else %}empty{% endfor %}|{% for x in [1] if x > 5 %}a{% else %}filtered{% endfor %}|{% for m in ms if m.role == 'user' %}{{ m.content }}{{ loop.revindex }}{% endfor %}", {"ms": MS}),
    ("loop/unpacking", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d|items %}{{ k }}:{{ v }};{% endfor %}{% for a, b in [[1, 2], 'xy', (3, 4)] %}{{ a }}{{ b }}{% endfor %}{% for (a, b) in [[5, 6]] %}{{ a }}{{ b }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("loop/over_dict_string_undefined", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héé' %}{{ c }}.{% endfor %}|{% for x in nope %}a{% else %}b{% endfor %}|{% for x in (1, 2) %}{{ x }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("loop/break_continue", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in [1, 2] %}{% for y in [1, 2, 3] %}{% if y == 2 %}{% break %}{% endif %}{{ x }}{{ y }}{% endfor %}{% endfor %}", {}),
    ("loop/nested", "{% for m in ms %}{{ loop.index }}({% for n in m %}{{ loop.index }}{{ n }}{% endfor %}){{ loop.last }}{% endfor %}", {"ms": [[1, 2], [3]]}),
    ("loop/scoping", "{% set v = 'outer' %}{% for i in [1, 2] %}[{{ v }}]{% set v = i %}({{ v }}){% endfor %}[{{ v }}]{% for i in [1] %}{% set w = 1 %}{% endfor %}[{{ w }}]{% set found = false %}{% for m in [1] %}{% set found = true %}{% endfor %}{{ found }}", {}),
    ("loop/scoping_if_inside", "{% for i in [1, 2] %}{% if i == 2 %}[{{ v }}]{% endif %}{% set v = i %}{% endfor %}[{{ v }}]", {"v": "outer"}),
    ("loop/outer_loop_var", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }}{% endfor %};{% endfor %}", {}),
    ("loop/range", "{{ range(3)|list }}{{ range(1, 10, 3)|list }}{% for i in range(2) %}{{ i }}{% endfor %}{{ range(5, 0, -2)|list }}{{ range(0)|list }}{% for i in range(0, ms|length) %}{{ ms[i].role }}{% endfor %}", {"ms": MS}),
    ("loop/changed", "{% for x in [1, 1, 2, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", {}),
    # assignment, namespace, macros, blocks
    ("set/basic", "{% set x = 1 %}{% set y = x + 1 %}{{ y }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (1, 2) %}{{ c }}{{ c[0] }}{% set messages = messages[1:] %}{{ messages|length }}{% set t = 1, %}{{ t }}", {"messages": MS}),
    ("set/block", "{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]{% set y | trim | upper %}  yy  {% endset %}[{{ y }}]", {}),
    ("set/if_at_top_level", "{% if true %}{% set x = 'set in if' %}{% endif %}{{ x }}", {}),
    ("namespace/basic", "{% set ns = namespace(a=1, found=false) %}{% for m in [1, 2] %}{% set ns.a = ns.a + m %}{% if m == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.a }}{{ ns.found }}{{ ns.missing is defined }}|{{ ns }}|{{ ns['a'] }}", {}),
    ("namespace/from_dict", "{% set ns = namespace({'x': 1}, y=2) %}{{ ns.x }}{{ ns.y }}{% set ns.z = [ns.x] %}{{ ns.z }}{% set empty = namespace() %}{{ empty }}", {}),
    ("macro/arguments", "{% macro m(a, b='d') %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}|{{ m(1, 2) }}|{{ m(b=3, a=4) }}|{{ m() }}|{{ m(none) }}", {}),
    ("macro/scope", "{% macro m() %}[{{ x }}]{% set x = 'inner' %}{{ x }}{% endmacro %}{% set x = 5 %}{{ m() }}{{ x }}", {}),
    ("macro/varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}", {}),
    ("macro/recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro/default_uses_earlier_arg", "{% macro m(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ m('hi') }}", {}),
    ("macro/whitespace", "{% macro tag(name) %}\n  <{{ name }}>\n{% endmacro %}\n{{ tag('a') }}{{ tag('b') }}", {}),
    ("with/block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]{% with %}{% set c = 3 %}{{ c }}{% endwith %}[{{ c }}]", {}),
    ("filter/block", "{% filter upper %}hi {{ 'x' }}{% endfilter %}|{% filter replace('a', 'b') | trim %}  aaa  {% endfilter %}", {}),
    ("generation/block", "{% for m in ms %}{% generation %}{{ m.content }}{% set inner = 1 %}{% endgeneration %}{% endfor %}[{{ inner }}]", {"ms": MS}),
    ("comments", "a{# comment with {{ x }} and {% y %} #}b{#- x -#} c{# multi\nline #}d", {}),
    ("print_statement", "{% print 'p' ~ 1 %}", {}),
    # attribute and item access
    ("access/attr_item", "{{ d.a }}{{ d['a'] }}{{ d.b.c }}{{ d['b']['c'] }}{{ l[0] }}{{ l[-1] }}{{ l.0 }}{{ d.missing }}|{{ l[10] }}|{{ d['items'] }}{{ none.y }}|{{ 'abc'.foo }}|{{ d._private }}|{{ d[key] }}|{{ l[true] }}", {"d": {"a": 1, "b": {"c": 2}, "items": 3, "_private": "p", "k": "via var"}, "l": [5, 6, 7], "key": "k"}),
    ("access/slices", "{{ 'hello'[1:-1] }}{{ 'hello'[::2] }}{{ 'hello'[::-1] }}{{ [1, 2, 3, 4][::-2] }}{{ l[1:] }}{{ l[:1] }}{{ l[5:] }}{{ 'abc'[0] }}{{ 'abc'[-1] }}{{ l[-2:] }}{{ l[:-1] }}{{ 'abc'[10:] }}|{{ l[::1] }}{{ l[1:2:1] }}", {"l": [5, 6, 7]}),
    ("access/unicode_code_points", "{{ s|length }}|{{ s[1] }}|{{ s[::-1] }}|{{ s|upper }}|{{ s|list }}|{{ s == 'é\\r\\n🙂' }}", {"s": "e\u0301\r\n🙂"}),
    ("access/dict_literal", "{{ {'a': 1, 'b': [1, 2]} }}{{ {'a': 1}|tojson }}{{ [1, 2,] }}{{ {'k': 'v',} }}{{ {1: 'int key', 'x': 2}[1] }}{{ {'a': 1}['a'] }}", {}),
    # filters
    ("filters/string", "{{ '  x  '|trim }}|{{ 'xxax'|trim('x') }}|{{ 'hELLO wORLD'|capitalize }}|{{ \"they're bill's\"|title }}|{{ 'a-b c(d'|title }}|{{ 'Ab'|lower }}{{ 'ab'|upper }}|{{ 'aXbX'|replace('X', '-') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|center(8) }}|{{ 'ab'|center(5) }}|{{ 'a b, c_d'|wordcount }}|{{ 'ab'|replace('', '-') }}|{{ '\\t x \\n'|trim }}|", {}),
    ("filters/length", "{{ 'abc'|length }}{{ [1, 2]|count }}{{ {'a': 1}|length }}{{ undefined_var|length }}{{ ''|length }}", {}),
    ("filters/default", "{{ x|default('d') }}{{ ''|default('d') }}{{ ''|default('d', true) }}{{ none|default('d') }}{{ x|d('z') }}{{ false|d('f', boolean=true) }}{{ x|default }}|{{ d.missing|default('m') }}", {"d": {}}),
    ("filters/first_last", "{{ [1, 2, 3]|first }}{{ []|first }}|{{ 'abc'|last }}{{ {'a': 1}|first }}{{ [1, 2, 3]|last }}{{ 'abc'|first }}", {}),
    ("filters/join", "{{ [1, 'a', none]|join }}|{{ ['a', 'b']|join(', ') }}|{{ ms|join('/', attribute='role') }}|{{ 'abc'|join('.') }}|{{ x|join(',') }}", {"ms": MS}),
    ("filters/numbers", "{{ '42'|int }}{{ '4.7'|int }}{{ 'x'|int }}{{ 'x'|int(7) }}{{ 3.9|int }}{{ '0x1A'|int(0, 16) }}{{ ' 12 '|int }}{{ '1_000'|int }}{{ -3.9|int }}{{ none|int }}|{{ '1.5'|float }}{{ 'x'|float }}{{ 3|float }}{{ true|int }}{{ ' -2.5e1 '|float }}|{{ -3|abs }}{{ -3.5|abs }}", {}),
    ("filters/round", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 5|round }} {{ 2.1|round(0, 'ceil') }} {{ -2.5|round }} {{ 2.19|round(1, 'floor') }} {{ 1234.5678|round(-2) }} {{ 0.125|round(2) }} {{ 1.0005|round(3) }}", {}),
    ("filters/conversion", "{{ 1|string }}{{ [1]|string }}{{ none|string }}{{ x|string }}|{{ 'abc'|list }}{{ {'a': 1}|list }}{{ (1, 2)|list }}{{ 1.5|string }}", {}),
    ("filters/items_dictsort", "{% for k, v in {'b': 1, 'a': [2]}|items %}{{ k }}{{ v }}{% endfor %}{{ {'x': 1}|items|list }}{{ {'b': 1, 'a': 2}|dictsort }}{{ {'b': 1, 'A': 2}|dictsort(reverse=true) }}{{ {'b': 1, 'a': 2}|dictsort(by='value') }}{% for k, v in x|items %}{{ k }}{% endfor %}", {}),
    ("filters/reverse_sort_unique", "{{ 'ab'|reverse }}{{ [1, 2, 3]|reverse|list }}{{ [3, 1, 2]|sort }}{{ ['b', 'A', 'a']|sort }}{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}{{ [3, 1, 2]|sort(reverse=true) }}{{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }}{{ ['b', 'A', 'a', 'B']|unique|list }}{{ [1, 2, 1]|unique|list }}{{ [[2, 'b'], [1, 'a']]|sort }}", {}),
    ("filters/map_select", "{{ ms|map(attribute='role')|list }}{{ ms|selectattr('role', 'equalto', 'user')|list }}{{ ms|rejectattr('role', 'equalto', 'user')|map(attribute='content')|list }}{{ ms|selectattr('tool_calls')|list|length }}{{ ms|selectattr('tool_calls', 'defined')|list|length }}{{ ms|rejectattr('tool_calls', 'undefined')|list|length }}{{ [1, 2, 3]|select('odd')|list }}{{ [0, 1, '', 2]|select|list }}{{ [1, 2, 3]|reject('even')|list }}{{ [1, 2]|map('string')|list }}{{ ['a', 'b']|map('upper')|join }}{{ ms|map(attribute='missing', default='-')|join }}{{ [1, 5, 3]|select('gt', 2)|list }}{{ ['a', 'bb']|map('length')|list }}{{ ms|selectattr('role', '==', 'user')|map(attribute='content')|join }}", {"ms": MS}),
    ("filters/tojson", "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ d|tojson(sort_keys=true) }}|{{ 'é\"<\\n'|tojson }}|{{ d|tojson(indent=2, separators=(',', ':')) }}|{{ d|tojson(separators=(',', ':')) }}|{{ {'b': 1, 'a': []}|tojson(indent='\\t') }}|{{ [[]]|tojson(indent=0) }}|{{ (1, 'x')|tojson }}|{{ 1.5|tojson }}{{ none|tojson }}{{ true|tojson }}|{{ {'k': {}}|tojson(indent=1) }}|{{ 'a'|tojson(ensure_ascii=true) }}", {"d": NESTED}),
    ("filters/indent", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('> ') }}|{{ 'a\\nb'|indent(first=true) }}|{{ 'single'|indent(4) }}|{{ 'a\\r\\nb'|indent(1) }}", {}),
    ("filters/misc", "{{ [1, 2, 3]|sum }}{{ [1, 3, 2]|max }}{{ ['b', 'A']|min }}{{ [1, 2, 3, 4, 5]|batch(2)|list }}{{ [1, 2, 3]|batch(2, 0)|list }}{{ '<a href=\"x\">&\\'</a>'|e }}{{ '<b>'|safe }}{{ {'a': 5}|attr('a') }}|{{ [{'n': 1}, {'n': 2}]|sum(attribute='n') }}{{ [1.5, 2]|sum }}{{ 'ab'|escape }}", {}),
    ("filters/format", "{{ '%s-%d' % ('a', 3) }}|{{ '%05.1f|%s|%r|%d%%' % (3.14159, 'a', 'b', 4) }}|{{ '%s and %s'|format('a', 'b') }}|{{ '%(x)s'|format(x=1) }}|{{ '%x|%5s|%-5s|%.2s' % (255, 'ab', 'ab', 'abc') }}|{{ '%s' % [1, 2] }}|{{ '%s' % 'x' }}", {}),
    ("filters/generators", "{% set g = ms|selectattr('role', 'equalto', 'system') %}{{ 'truthy' if g else 'falsy' }}|{{ g|list }}|{% set u = ms|map(attribute='role') %}{{ u|first }}{{ u|list }}{{ u|list }}|{{ (ms|map(attribute='role'))[0] }}|{{ ms|reverse|list|length }}|{{ 'c' in ms|map(attribute='content') }}", {"ms": MS}),
    # methods
    ("methods/dict_views", "{{ d.items() }}{{ d.keys() }}{{ d.values() }}{{ d.items()|length }}{{ ('a', 1) in d.items() }}{{ d.keys()|last }}[{{ d.items()[0] }}]{{ d.keys() == d.keys() }}{{ 'truthy' if {}.items() else 'falsy' }}", {"d": {"a": 1, "b": 2}}),
    ("methods/split_strip", "{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a b c'.split(none, 1) }}{{ 'a,b'.rsplit(',', 1) }}{{ 'xxhixx'.strip('x') }}{{ '  a '.lstrip() }}|{{ '  a '.rstrip() }}|{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('c') }}{{ 'abc'.startswith('b', 1) }}{{ 'a::b'.split('::') }}{{ ''.split(',') }}{{ ''.split() }}{{ 'a b'.split(maxsplit=1) }}{{ ' x '.strip(' x') }}", {}),
    ("methods/string", "{{ 'Hello World'.title() }}{{ \"they're bill's\".title() }}{{ 'hELLO'.capitalize() }}{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'aXb'.replace('X', '-') }}{{ 'abc'.find('c') }}{{ 'abc'.find('z') }}{{ 'abcabc'.count('b') }}{{ '-'.join(['a', 'b']) }}{{ 'ab\\r\\ncd\\ref'.splitlines() }}{{ 'a\\u00a0b'.split() }}{{ '42'.isdigit() }}{{ 'ab'.isalpha() }}{{ '7'.zfill(3) }}{{ 'x'.ljust(3) }}|{{ 'x'.rjust(3, '*') }}{{ 'abc'.removeprefix('a') }}{{ 'abc'.removesuffix('c') }}{{ 'a b'.partition(' ') }}{{ 'abcb'.rfind('b') }}{{ 'Ab'.swapcase() }}{{ ' '.isspace() }}{{ 'ab'.islower() }}{{ 'a1'.isalnum() }}{{ 'x'.center(5, '-') }}", {}),
    ("methods/format", "{{ '{} is {}'.format('a', 1) }}|{{ '{0}{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{{}}{}'.format(1) }}|{{ '{}'.format([1, 'a']) }}|{{ '{}'.format(1.0) }}", {}),
    ("methods/dict", "{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 2) }}{{ d.keys()|list }}{{ d.values()|list }}{{ d.items()|list }}{% for k in d.keys() %}{{ k }}{% endfor %}{{ d.items()|length }}{{ 'a' in d.keys() }}{{ d.copy() }}", {"d": {"a": 1, "b": 2}}),
    ("methods/list", "{{ [1, 2, 1].count(1) }}{{ ['a', 'b'].index('b') }}{{ [1].copy() }}", {}),
    # globals
    ("globals/strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %j %I%p %y %a %e %%') }}", {}),
    ("globals/dict", "{{ dict(a=1, b='x') }}{{ dict(a=1).a }}{{ dict() }}", {}),
    ("globals/defined", "{{ raise_exception is defined }}{{ strftime_now is defined }}{{ namespace is defined }}{{ range is defined }}{{ tools is defined }}", {}),
    # undefined behaviour
    ("undefined/printing", "[{{ nope }}][{{ d.nope }}][{{ l[9] }}][{{ nope|string }}][{{ nope|trim }}][{{ nope is defined }}][{{ d.nope|default('dflt') }}][{{ nope == nope }}]", {"d": {}, "l": []}),
]

SYNTHETIC_ERRORS = [
    ("error/raise_exception", "line one\n{{ raise_exception('boom ' ~ 1) }}", {}, "boom 1"),
    ("error/undefined_attribute_chain", "line1\n{{ a.b.c }}", {"a": {}}, "'dict object' has no attribute 'b'"),
    ("error/attribute_of_undefined", "{{ x.y }}", {}, "'x' is undefined"),
    ("error/item_of_undefined", "{{ x['y'] }}", {}, "'x' is undefined"),
    ("error/missing_list_element", "{{ messages[0]['content'] }}", {"messages": []}, "list object has no element 0"),
    ("error/none_attribute_chain", "{{ none.y.z }}", {}, "'None' has no attribute 'y'"),
    ("error/undefined_plus", "{{ x + 1 }}", {}, "'x' is undefined"),
    ("error/string_plus_undefined", "{{ 'a' + d.x }}", {"d": {}}, "'dict object' has no attribute 'x'"),
    ("error/unknown_end_tag", "a\n{% if x %}\n{% endfor %}", {}, "Encountered unknown tag 'endfor'", 3),
    ("error/unclosed_block", "{% for x in y %}\nbody", {}, "Unexpected end of template", 2),
    ("error/bad_expression", "line1\nline2 {{ 'a' + }}", {}, "unexpected 'end of print statement'", 2),
    ("error/unknown_filter", "\n{{ x|nosuch }}", {}, "No filter named 'nosuch'", 2),
    ("error/unknown_test", "{{ x is nosuch }}", {}, "No test named 'nosuch'", 1),
    ("error/unclosed_comment", "ok\n{# x", {}, "Missing end of comment tag"),
    ("error/unexpected_char", "{{ a ! b }}", {}, "unexpected char '!'", 1),
    ("error/unclosed_variable", "{{ x ", {}, "unexpected end of template", 1),
    ("error/unbalanced_bracket", "{{ [1, 2) }}", {}, "unexpected ')'", 1),
    ("error/unknown_tag", "{% frobnicate %}", {}, "Encountered unknown tag 'frobnicate'", 1),
    ("error/str_plus_int", "{{ 'a' + 1 }}", {}, "can only concatenate str (not \"int\") to str"),
    ("error/none_plus_int", "{{ none + 1 }}", {}, "unsupported operand type(s) for +: 'NoneType' and 'int'"),
    ("error/division_by_zero", "{{ 1 / 0 }}", {}, "division by zero"),
    ("error/modulo_by_zero", "{{ 1 % 0 }}", {}, "modulo by zero"),
    ("error/namespace_assign", "{% set x = 1 %}{% set x.a = 1 %}", {}, "cannot assign attribute on non-namespace object"),
    ("error/macro_arguments", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}, "macro 'm' takes not more than 1 argument(s)"),
    ("error/unpack_count", "{% for a, b in [[1]] %}{% endfor %}", {}, "not enough values to unpack (expected 2, got 1)"),
    ("error/iterate_none", "{% for x in none %}{% endfor %}", {}, "'NoneType' object is not iterable"),
    ("error/in_string_int", "{{ 1 in 'abc' }}", {}, "'in <string>' requires string as left operand, not int"),
    ("error/in_none", "{{ 1 in none }}", {}, "argument of type 'NoneType' is not iterable"),
    ("error/compare_types", "{{ [1] < 'a' }}", {}, "'<' not supported between instances of 'list' and 'str'"),
    ("error/compare_undefined", "{{ x < 1 }}", {}, "'x' is undefined"),
    ("error/list_mutation", "{% set l = [] %}{{ l.append(1) }}", {}, "access to attribute 'append' of 'list' object is unsafe"),
    ("error/dict_mutation", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}, "access to attribute 'update' of 'dict' object is unsafe"),
    ("error/range_too_big", "{{ range(200000)|length }}", {}, "Range too big"),
    ("error/tojson_undefined", "{{ x|tojson }}", {}, "Object of type Undefined is not JSON serializable"),
    ("error/break_outside_loop", "{% break %}", {}, "'break' outside loop"),
    ("error/length_of_int", "{{ 1|length }}", {}, "object of type 'int' has no len()"),
    ("error/length_of_generator", "{{ [1]|map('string')|length }}", {}, "object of type 'generator' has no len()"),
    ("error/last_of_generator", "{{ [1]|select|last }}", {}, "'generator' object is not reversible"),
    ("error/slice_of_int", "{{ n[1:] }}", {"n": 5}, "'int' object is not subscriptable"),
    ("error/items_of_list", "{{ [1]|items|list }}", {}, "Can only get item pairs from a mapping."),
    ("error/call_undefined", "{{ nope() }}", {}, "'nope' is undefined"),
    ("error/assign_to_literal", "{% set 1 = 2 %}", {}, "can't assign to 'const'", 1),
    ("error/non_default_after_default", "{% macro m(a=1, b) %}{% endmacro %}", {}, "non-default argument follows default argument", 1),
    ("error/endblock_mismatch", "{% for x in y %}{% endif %}", {}, "Encountered unknown tag 'endif'", 1),
    ("error/int_overflow_is_not_silent", "{{ 10 ** 30 }}", {}, None),
]


def render(env, template, context):
    return env.from_string(template).render(**context)


def main():
    gguf = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".cache/smollm2-135m-instruct.Q4_1.gguf")
    smollm2 = gguf_string(gguf, "tokenizer.chat_template")
    env = environment()
    cases = []
    model, model_errors = real_template_cases(smollm2)
    for name, template, context in model + SYNTHETIC:
        cases.append({"name": name, "template": template, "context": context, "output": render(env, template, context)})
    for name, template, context, expected, *line in model_errors + SYNTHETIC_ERRORS:
        if expected is None:
            # Python's ints are unbounded; the Swift engine refuses to overflow 64 bits instead.
            output = render(env, template, context)
            cases.append({"name": name, "template": template, "context": context, "error": "overflow", "python_output": output})
            continue
        try:
            output = render(env, template, context)
        except Exception as error:  # whatever jinja2 raises, the Swift engine raises a TemplateError
            message = str(error)
            assert expected in message, f"{name}: {message!r} does not contain {expected!r}"
            case = {"name": name, "template": template, "context": context, "error": expected}
            if line:
                assert getattr(error, "lineno", None) == line[0], f"{name}: jinja2 says line {getattr(error, 'lineno', None)}"
                case["line"] = line[0]
            cases.append(case)
        else:
            raise AssertionError(f"{name} rendered {output!r} instead of failing")
    golden = {
        "generator": "tests/golden/make_chat_template_golden.py",
        "jinja2": jinja2.__version__,
        "now": NOW.isoformat(),
        "templates": sorted({name.split("/")[0] for name, *_ in model + model_errors}),
        "cases": cases,
    }
    path = os.path.join(HERE, "chat_templates.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases ({sum('error' in c for c in cases)} errors) -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
