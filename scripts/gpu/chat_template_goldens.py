#!/usr/bin/env python3
"""Golden renders of real Hugging Face chat templates, for the C# Jinja engine's conformance test
(tests/ActorLlm.Inference.Tests/Tokenization/Templates/ChatTemplateGoldenTests.cs).

For every template in tests/fixtures/chat-templates/*.jinja and every conversation below, renders with transformers'
own tokenizer.apply_chat_template(conversation, chat_template=TEMPLATE, tokenize=False, add_generation_prompt=...)
using a tokenizer built here whose special tokens are the template's natural ones (TOKENS below), and records the
text, or the error transformers raised (raise_exception on bad roles, ...). Needs transformers and tokenizers (the
GPU machine has them; nothing here needs a GPU or the network):

    python3 scripts/gpu/chat_template_goldens.py --out tests/fixtures/chat-templates/goldens.json

--replica renders with a local jinja2 environment configured as transformers configures it instead (for checking
the engine where transformers is not installed); the committed goldens.json must come from transformers.
Templates that read the date (Llama 3.x) get a fixed date_string, so renders are deterministic.
"""
import argparse
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "chat-templates")

# The special tokens each template's model ships (bos_token, eos_token); None: the model has none.
TOKENS = {
    "llama-2-chat": ("<s>", "</s>"),
    "llama-3": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.2": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.2-vision": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral-7b-instruct-v0.1": ("<s>", "</s>"),
    "mistral-7b-instruct-v0.3": ("<s>", "</s>"),
    "mistral-nemo": ("<s>", "</s>"),
    "qwen2.5": (None, "<|im_end|>"),
    "qwen3": (None, "<|im_end|>"),
    "hammer2.1": (None, "<|im_end|>"),
    "deepseek-r1": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-coder": ("<｜begin▁of▁sentence｜>", "<|EOT|>"),
    "gemma-2": ("<bos>", "<eos>"),
    "phi-3-mini": ("<s>", "<|endoftext|>"),
    "zephyr": ("<s>", "</s>"),
    "chatml": ("<s>", "<|im_end|>"),
    "hermes-2-pro-tool-use": ("<|begin_of_text|>", "<|im_end|>"),
    "command-r": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    "openchat-3.5": ("<s>", "<|end_of_turn|>"),
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city, e.g. \"Paris, France\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days", "minimum": 1, "maximum": 14, "default": 3},
                "threshold": {"type": "number", "default": 0.5},
                "strict": {"type": "boolean", "default": True},
            },
            "required": ["location"],
        },
    },
}

DATE = {"date_string": "15 Mar 2025"}


def m(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "system_user": dict(messages=[m("system", "You are a helpful assistant."), m("user", "What is the capital of France?")],
                        add_generation_prompt=True),
    "multi_turn": dict(messages=[m("user", "Hi!"), m("assistant", "Hello! How can I help?"), m("user", "Tell me a joke."),
                                 m("assistant", "Why did the chicken cross the road?"), m("user", "Why?")],
                       add_generation_prompt=True),
    "multi_turn_no_generation_prompt": dict(messages=[m("system", "Be brief."), m("user", "2+2?"), m("assistant", "4")],
                                            add_generation_prompt=False),
    "single_user_no_generation_prompt": dict(messages=[m("user", "Just one message.")], add_generation_prompt=False),
    "unicode": dict(messages=[m("user", "Grüße aus Köln 👋🏽 — 你好，世界！ «ça va?» e\u0301"),
                              m("assistant", "😀 Très bien, merci ! ñ 日本語 \U0001F600"),
                              m("user", "Ελληνικά & <b>tags</b> \"quotes\" 'single' \\backslash {{ not jinja }} {% raw %}")],
                    add_generation_prompt=True),
    "whitespace": dict(messages=[m("system", "  Leading and trailing spaces  "),
                                 m("user", "Line one\n  indented line two\n\n\ttab line\n"),
                                 m("assistant", "\n  Answer with a newline first  \n"),
                                 m("user", "   ")],
                       add_generation_prompt=True),
    "bad_roles": dict(messages=[m("user", "First"), m("user", "Second in a row")], add_generation_prompt=True),
    "assistant_first": dict(messages=[m("assistant", "I speak first."), m("user", "Odd.")], add_generation_prompt=True),
    "tools": dict(messages=[m("system", "You can call tools."), m("user", "What's the weather in Paris?")],
                  add_generation_prompt=True, tools=[WEATHER_TOOL]),
}


def make_tokenizer(bos, eos):
    """A one-word tokenizer whose only special tokens are unk, bos and eos (the template's context sees exactly those)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:  # transformers 5 renamed the class; keep working either way
        from transformers import TokenizersBackend as PreTrainedTokenizerFast

    kwargs = {"unk_token": "<unk>"}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"<unk>": 0}, unk_token="<unk>")), **kwargs)


class TransformersRenderer:
    def __init__(self):
        import transformers

        self.versions = {"mode": "transformers", "transformers": transformers.__version__}

    def special_tokens(self, bos, eos):
        tokenizer = make_tokenizer(bos, eos)
        return {k: v for k, v in tokenizer.special_tokens_map.items()}

    def render(self, template, bos, eos, conversation):
        tokenizer = make_tokenizer(bos, eos)
        out = tokenizer.apply_chat_template(
            conversation["messages"], tools=conversation.get("tools"), chat_template=template, tokenize=False,
            return_dict=False, add_generation_prompt=conversation["add_generation_prompt"], **DATE)
        if not isinstance(out, str):
            raise TypeError(f"apply_chat_template returned {type(out).__name__}, not str")
        return out


class ReplicaRenderer:
    """jinja2 configured as transformers' _compile_jinja_template does (for local checks only)."""

    def __init__(self):
        import jinja2
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise jinja2.exceptions.TemplateError(message)

        def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

        self.env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        self.env.filters["tojson"] = tojson
        self.env.globals["raise_exception"] = raise_exception
        self.env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
        self.versions = {"mode": "replica", "jinja2": jinja2.__version__}

    def special_tokens(self, bos, eos):
        tokens = {"unk_token": "<unk>"}
        if bos is not None:
            tokens["bos_token"] = bos
        if eos is not None:
            tokens["eos_token"] = eos
        return tokens

    def render(self, template, bos, eos, conversation):
        return self.env.from_string(template).render(
            messages=conversation["messages"], tools=conversation.get("tools"), documents=None,
            add_generation_prompt=conversation["add_generation_prompt"], **self.special_tokens(bos, eos), **DATE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--replica", action="store_true")
    args = parser.parse_args()
    renderer = ReplicaRenderer() if args.replica else TransformersRenderer()
    try:
        import jinja2

        renderer.versions["jinja2"] = jinja2.__version__
    except ImportError:
        pass

    names = sorted(f[:-len(".jinja")] for f in os.listdir(FIXTURES) if f.endswith(".jinja"))
    missing = [n for n in names if n not in TOKENS]
    if missing:
        sys.exit(f"no special tokens listed for {missing}")

    templates, cases = {}, []
    for name in names:
        with open(os.path.join(FIXTURES, name + ".jinja"), encoding="utf-8", newline="") as f:
            source = f.read()
        bos, eos = TOKENS[name]
        templates[name] = {"file": name + ".jinja", "bos_token": bos, "eos_token": eos,
                           "special_tokens": renderer.special_tokens(bos, eos)}
        for conversation_name, conversation in CONVERSATIONS.items():
            case = {"template": name, "conversation": conversation_name}
            try:
                case["output"] = renderer.render(source, bos, eos, conversation)
            except Exception as e:  # noqa: BLE001 - every failure is a golden too
                case["error"] = {"type": type(e).__name__, "message": str(e)}
            cases.append(case)

    conversations = {name: {"messages": c["messages"], "add_generation_prompt": c["add_generation_prompt"],
                            "tools": c.get("tools"), "kwargs": DATE} for name, c in CONVERSATIONS.items()}
    if not args.replica:
        # Diagnostics only: where a plain jinja2 replica of transformers' environment disagrees with transformers.
        try:
            replica = ReplicaRenderer()
            differing = 0
            for case in cases:
                conversation = CONVERSATIONS[case["conversation"]]
                with open(os.path.join(FIXTURES, case["template"] + ".jinja"), encoding="utf-8", newline="") as f:
                    source = f.read()
                bos, eos = TOKENS[case["template"]]
                try:
                    other = {"output": replica.render(source, bos, eos, conversation)}
                except Exception as e:  # noqa: BLE001
                    other = {"error": {"type": type(e).__name__, "message": str(e)}}
                if other.get("output") != case.get("output") or ("error" in other) != ("error" in case):
                    differing += 1
                    print(f"  replica differs: {case['template']} / {case['conversation']}")
            renderer.versions["replica_differences"] = differing
        except ImportError:
            pass

    golden = {"generator": renderer.versions, "templates": templates, "conversations": conversations, "cases": cases}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"{len(cases)} cases ({errors} errors) over {len(templates)} templates -> {args.out}")
    for c in cases:
        if "error" in c:
            print(f"  {c['template']} / {c['conversation']}: {c['error']['type']}: {c['error']['message']}")


if __name__ == "__main__":
    main()
