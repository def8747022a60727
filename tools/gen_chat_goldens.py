#!/usr/bin/env python3
"""gen_chat_goldens.py — chat-format goldens: conversations rendered by each model's own Jinja template.

  python3 tools/gen_chat_goldens.py OUT.jsonl [TOKENIZERS_DIR]

Templates come from tests/fixtures/chat/templates/ (copies of the shipped chat templates). Each output line:
{"name", "template", "messages", "kwargs", "text"} where text is the rendered prompt. With transformers
installed (the GPU machine: 5.17.0) the text is transformers' apply_chat_template(tokenize=False) on the
family's tokenizer from TOKENIZERS_DIR (qwen3/, deepseek_v3/, gptoss/) with the template passed in, and
"jinja2_agrees" says whether the plain-jinja2 rendering below (transformers' environment reproduced:
trim_blocks, lstrip_blocks, loopcontrols, tojson keeping non-ASCII, raise_exception, strftime_now) gives
the same bytes. Without transformers only the jinja2 rendering is written (for local development).
The gpt-oss template prints strftime_now("%Y-%m-%d"); it is pinned to DATE so goldens do not age.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "tests", "fixtures", "chat", "templates")
DATE = "2025-08-05"

QWEN = "Qwen-Qwen3-0.6B.jinja"
DSV3 = "deepseek-ai-DeepSeek-V3.jinja"
DSV31 = "deepseek-ai-DeepSeek-V3.1.jinja"
OSS = "openai-gpt-oss-120b.jinja"
FAMILY = {QWEN: "qwen3", DSV3: "deepseek_v3", DSV31: "deepseek_v3", OSS: "gptoss"}
BOS = {"deepseek_v3": "<｜begin▁of▁sentence｜>"}


def u(c):
    return {"role": "user", "content": c}


def a(c, **kw):
    m = {"role": "assistant", "content": c}
    m.update(kw)
    return m


def s(c):
    return {"role": "system", "content": c}


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


def fn(name, desc, params=None):
    f = {"name": name, "description": desc}
    if params is not None:
        f["parameters"] = params
    return {"type": "function", "function": f}


WEATHER = fn("get_weather", "Get the current weather in a city.", {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name, e.g. Paris or 東京"},
                   "unit": {"type": "string", "enum": ["C", "F"], "default": "C"}},
    "required": ["city"]})
TIME = fn("get_time", "Current time.", {"type": "object", "properties": {}})
SEARCH = fn("search", "Search the \"docs\".", {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "limit": {"type": "integer", "default": 10},
        "score": {"type": "number"},
        "exact": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ids": {"type": "array", "items": {"type": "integer"}, "nullable": True},
        "pairs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "anything": {"type": "array"},
        "note": {"type": "string", "nullable": True},
        "mode": {"type": ["string", "null"]},
        "filters": {"type": "object", "properties": {"lang": {"type": "string"}, "year": {"type": "integer"}},
                    "required": ["lang"]},
        "meta": {"type": "object"},
        "blob": {},
    },
    "required": ["query", "tags"]})
ONEOF = fn("convert", "Convert a value.", {
    "type": "object",
    "properties": {
        "value": {"oneOf": [{"type": "number", "description": "a number"}, {"type": "string", "default": "0"}],
                  "default": "1"},
        "points": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "shapes": {"type": "array", "items": {"type": "object", "properties": {
            "kind": {"type": "string", "enum": ["circle", "square"]}, "size": {"type": "number"}}}},
        "unit": {"type": "string", "enum": ["m", "ft"], "description": "Target unit"},
        "either": {"oneOf": [{"type": "object"}, {"type": "integer"}]},
    },
    "required": ["value"]})
NOPARAMS = fn("ping", "Check the service.")


def cases():
    hi = [u("Hello! What is 2+2?")]
    sys_hi = [s("You are a helpful assistant."), u("Hello! What is 2+2?")]
    multi = [s("Be brief."), u("Name a colour."), a("Blue."), u("Another one, in 中文 please."),]
    unicode_turn = [u("Tabs\tand\nnewlines, emoji 👩‍👩‍👧 and quotes \"x\" 'y' \\ back"), ]
    out = []
    # Qwen3 (ChatML + think)
    q = QWEN
    out += [
        ("qwen_user", q, hi, {}),
        ("qwen_system_user", q, sys_hi, {}),
        ("qwen_think_off", q, sys_hi, {"enable_thinking": False}),
        ("qwen_think_on_explicit", q, hi, {"enable_thinking": True}),
        ("qwen_multi", q, multi, {}),
        ("qwen_multi_think_off", q, multi, {"enable_thinking": False}),
        ("qwen_unicode", q, unicode_turn, {}),
        ("qwen_reasoning_history", q, [u("Q1"), a("A1", reasoning_content="thinking one"), u("Q2"),
                                       a("A2", reasoning_content="\nthinking two\n")], {"add_generation_prompt": False}),
        ("qwen_reasoning_after_last_user", q, [u("Q1"), a("A1", reasoning_content="r1"), u("Q2")], {}),
        ("qwen_think_in_content", q, [u("Q1"), a("<think>\nold reasoning\n</think>\n\nA1"), u("Q2"),
                                      a("<think>\nnew\n</think>\n\nA2")], {"add_generation_prompt": False}),
        ("qwen_last_assistant_no_reasoning", q, [u("Q1"), a("A1")], {"add_generation_prompt": False}),
        ("qwen_system_only", q, [s("Just a system prompt.")], {}),
        ("qwen_tool_call", q, [u("Weather in Paris?"), a("", tool_calls=[call("get_weather", "{\"city\": \"Paris\"}")]),
                               {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "tool", "content": "sunny"}], {}),
        ("qwen_tools", q, sys_hi, {"tools": [WEATHER, TIME]}),
        ("qwen_tools_no_system", q, hi, {"tools": [SEARCH, NOPARAMS]}),
        ("qwen_tools_history", q, [s("Be brief."), u("Weather in Paris?"), a("", tool_calls=[
            call("get_weather", "{\"city\": \"Paris\"}")]), {"role": "tool", "content": "21C"}],
         {"tools": [WEATHER], "enable_thinking": False}),
        ("qwen_tool_call_with_content", q, [u("Weather?"), a("Let me check.", tool_calls=[
            call("get_weather", "{\"city\": \"Paris\"}"), call("get_time", "{}")]),
            {"role": "tool", "content": "21C"}, a("It is 21C."), u("Thanks")], {}),
    ]
    # DeepSeek-V3 (the template in the V3 tokenizer_config.json)
    d = DSV3
    out += [
        ("dsv3_user", d, hi, {}),
        ("dsv3_system_user", d, sys_hi, {}),
        ("dsv3_two_systems", d, [s("First."), s("Second."), u("Go")], {}),
        ("dsv3_multi", d, multi, {}),
        ("dsv3_no_gen_prompt", d, [u("Q"), a("A")], {"add_generation_prompt": False}),
        ("dsv3_unicode", d, unicode_turn, {}),
        ("dsv3_tools_ignored", d, sys_hi, {"tools": [WEATHER]}),
        ("dsv3_tool", d, [u("Weather?"), a(None, tool_calls=[call("get_weather", "{\"city\": \"Paris\"}"),
                                                            call("get_time", "{}")]),
                          {"role": "tool", "content": "21C"}, {"role": "tool", "content": "noon"}, a("21C at noon.")],
         {}),
    ]
    # DeepSeek-V3.1 (thinking on/off)
    d = DSV31
    out += [
        ("dsv31_user", d, hi, {}),
        ("dsv31_think_on", d, sys_hi, {"thinking": True}),
        ("dsv31_think_off", d, sys_hi, {"thinking": False}),
        ("dsv31_enable_thinking", d, hi, {"enable_thinking": True}),
        ("dsv31_multi", d, multi, {"thinking": True}),
        ("dsv31_history_with_think", d, [u("Q1"), a("<think>r</think>A1"), u("Q2")], {"thinking": True}),
        ("dsv31_unicode", d, unicode_turn, {}),
        ("dsv31_tool", d, [u("Weather?"), a("", tool_calls=[call("get_weather", "{\"city\": \"Paris\"}")]),
                           {"role": "tool", "content": "21C"}, a("It is 21C."), u("Thanks")], {}),
        ("dsv31_tools_ignored", d, sys_hi, {"tools": [WEATHER], "thinking": True}),
        ("dsv31_tool_last", d, [u("Weather?"), a("", tool_calls=[call("get_weather", "{\"city\": \"Paris\"}")]),
                                {"role": "tool", "content": "21C"}], {}),
    ]
    # gpt-oss (Harmony)
    g = OSS
    out += [
        ("oss_user", g, hi, {}),
        ("oss_system_dev", g, sys_hi, {}),
        ("oss_low", g, hi, {"reasoning_effort": "low"}),
        ("oss_high_dev", g, [{"role": "developer", "content": "Answer in French."}, u("Hi")], {"reasoning_effort": "high"}),
        ("oss_multi", g, multi, {}),
        ("oss_thinking_history", g, [u("Q1"), a("A1", thinking="secret reasoning"), u("Q2")], {}),
        ("oss_last_assistant_training", g, [u("Q1"), a("A1", thinking="why")], {"add_generation_prompt": False}),
        ("oss_identity", g, hi, {"model_identity": "You are owl, a small test model."}),
        ("oss_unicode", g, unicode_turn, {"reasoning_effort": "medium"}),
        ("oss_tools", g, hi, {"tools": [WEATHER, TIME]}),
        ("oss_tools_dev", g, sys_hi, {"tools": [WEATHER, NOPARAMS], "reasoning_effort": "low"}),
        ("oss_tools_types", g, hi, {"tools": [SEARCH]}),
        ("oss_tools_oneof", g, [u("Convert 3 ft")], {"tools": [ONEOF, TIME]}),
        ("oss_tool", g, [u("Weather?"), a("", thinking="need weather",
                                          tool_calls=[call("get_weather", {"city": "Paris", "unit": "C"})]),
                         {"role": "tool", "content": "{\"temp\": 21}"}], {}),
    ]
    return out


def jinja_render(template, messages, kwargs, bos):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: DATE
    kw = {"add_generation_prompt": True, "bos_token": bos}
    kw.update(kwargs)
    return env.from_string(template).render(messages=messages, **kw)


_TOKS = {}


def hf_render(tokdir, template, messages, kwargs):
    from transformers import AutoTokenizer
    if tokdir not in _TOKS:
        _TOKS[tokdir] = AutoTokenizer.from_pretrained(tokdir)
    tok = _TOKS[tokdir]
    # Pin the date: render() variables shadow the environment's strftime_now global.
    kw = {"add_generation_prompt": True, "strftime_now": lambda fmt: DATE}
    kw.update(kwargs)
    return tok.apply_chat_template(messages, chat_template=template, tokenize=False, **kw)


def main():
    out_path = sys.argv[1]
    tokdirs = sys.argv[2] if len(sys.argv) > 2 else None
    have_hf = False
    if tokdirs:
        try:
            import transformers  # noqa: F401
            have_hf = True
        except ImportError:
            pass
    n_agree = 0
    rows = []
    for name, tname, messages, kwargs in cases():
        template = open(os.path.join(TEMPLATES, tname), encoding="utf-8").read()
        fam = FAMILY[tname]
        row = {"name": name, "template": tname, "messages": messages, "kwargs": kwargs}
        j = jinja_render(template, messages, kwargs, BOS.get(fam, ""))
        if have_hf:
            text = hf_render(os.path.join(tokdirs, fam), template, messages, kwargs)
            row["text"] = text
            row["jinja2_agrees"] = text == j
            n_agree += text == j
            row["source"] = "transformers"
        else:
            row["text"] = j
            row["source"] = "jinja2"
        rows.append(row)
    with open(out_path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"chat goldens: {len(rows)} cases, source {'transformers' if have_hf else 'jinja2'}"
          + (f", jinja2 agrees on {n_agree}" if have_hf else ""))


if __name__ == "__main__":
    main()
