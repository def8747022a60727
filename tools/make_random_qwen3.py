#!/usr/bin/env python3
"""Write a random-weight Qwen3 dense checkpoint with a released model's real shapes, for benchmarks.

    python3 tools/make_random_qwen3.py --like qwen3-0.6b --out /tmp/qwen3-0.6b-random
    python3 tools/make_random_qwen3.py --like qwen3-0.6b --format gguf --type q8_0 --out /tmp/q.gguf

Writes config.json (as the hub ships it) and one bf16 model.safetensors, or one GGUF file with llama.cpp's
names and keys (qwen3 architecture, BF16 or Q8_0 matrices, F32 norms, and a placeholder byte-level
vocabulary so llama.cpp can load it: the 256 byte tokens plus numbered fillers). Values are random bf16 with
magnitudes in [2^-7, 2^-5) (norm weights 1.0): the numbers are meaningless, the shapes, dtypes and bytes
read per token are the real model's. Pure Python (no numpy): bytes are generated with os.urandom and
shaped with bytes.translate, so 1.2 GB takes seconds. `owl synth` (the CPU-speed issue) supersedes this.
"""
import argparse
import json
import os
import struct

SHAPES = {  # hidden, intermediate, layers, heads, kv heads, head_dim, tied
    "qwen3-0.6b": (1024, 3072, 28, 16, 8, 128, True),
    "qwen3-1.7b": (2048, 6144, 28, 16, 8, 128, True),
    "qwen3-4b": (2560, 9728, 36, 32, 8, 128, True),
    "qwen3-8b": (4096, 12288, 36, 32, 8, 128, False),
}
VOCAB = 151936
# high byte of a bf16: keep the sign bit, force exponent 0x78/0x79 -> |x| in [2^-7, 2^-5)
HIGH = bytes(0x3C | (b & 0x80) for b in range(256))


def random_bf16(n):
    buf = bytearray(os.urandom(2 * n))
    buf[1::2] = bytes(buf[1::2]).translate(HIGH)
    return bytes(buf)


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (what byte-level BPE vocabularies are written in)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def random_q8_0(n):
    """n weights as Q8_0 blocks: f16 scale 2^-12 then 32 random int8."""
    nb = n // 32
    buf = bytearray(os.urandom(34 * nb))
    buf[0::34] = b"\x00" * nb  # f16 0x0c00 = 2^-12
    buf[1::34] = b"\x0c" * nb
    return bytes(buf)


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, tensors, cfg, qtype):
    """tensors: [(hf_name, shape)]; cfg: the config dict; qtype 'bf16' or 'q8_0' for matrices."""
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    layer = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}

    def gname(hf):
        if hf in names:
            return names[hf]
        parts = hf.split(".")
        return f"blk.{parts[2]}.{layer['.'.join(parts[3:-1])]}.weight"

    kv = []
    u32 = lambda k, v: kv.append(gguf_str(k) + struct.pack("<II", 4, v))
    f32 = lambda k, v: kv.append(gguf_str(k) + struct.pack("<If", 6, v))
    st = lambda k, v: kv.append(gguf_str(k) + struct.pack("<I", 8) + gguf_str(v))
    st("general.architecture", "qwen3")
    st("general.name", "random qwen3")
    u32("qwen3.block_count", cfg["num_hidden_layers"])
    u32("qwen3.context_length", cfg["max_position_embeddings"])
    u32("qwen3.embedding_length", cfg["hidden_size"])
    u32("qwen3.feed_forward_length", cfg["intermediate_size"])
    u32("qwen3.attention.head_count", cfg["num_attention_heads"])
    u32("qwen3.attention.head_count_kv", cfg["num_key_value_heads"])
    u32("qwen3.attention.key_length", cfg["head_dim"])
    u32("qwen3.attention.value_length", cfg["head_dim"])
    f32("qwen3.attention.layer_norm_rms_epsilon", cfg["rms_norm_eps"])
    f32("qwen3.rope.freq_base", float(cfg["rope_theta"]))
    st("tokenizer.ggml.model", "gpt2")
    st("tokenizer.ggml.pre", "qwen2")
    b2u = bytes_to_unicode()
    vocab = [b2u[b] for b in range(256)] + [f"<tok{i}>" for i in range(256, cfg["vocab_size"])]
    kv.append(gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(vocab)) +
              b"".join(gguf_str(t) for t in vocab))
    kv.append(gguf_str("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, len(vocab)) +
              struct.pack(f"<{len(vocab)}i", *([1] * len(vocab))))
    merges = [b2u[ord("a")] + " " + b2u[ord("b")]]
    kv.append(gguf_str("tokenizer.ggml.merges") + struct.pack("<IIQ", 9, 8, len(merges)) +
              b"".join(gguf_str(m) for m in merges))
    u32("tokenizer.ggml.eos_token_id", 0)
    u32("tokenizer.ggml.bos_token_id", 0)

    infos, offset, plan = [], 0, []
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        if len(shape) == 1:
            gtype, nbytes = 0, 4 * n
        elif qtype == "q8_0":
            gtype, nbytes = 8, n // 32 * 34
        else:
            gtype, nbytes = 30, 2 * n
        offset = (offset + 31) // 32 * 32
        ne = list(reversed(shape))
        infos.append(gguf_str(gname(name)) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                     struct.pack("<IQ", gtype, offset))
        plan.append((offset, gtype, n))
        offset += nbytes
    with open(path, "wb") as f:
        head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + b"".join(infos)
        f.write(head + b"\0" * (-len(head) % 32))
        pos = 0
        for off, gtype, n in plan:
            f.write(b"\0" * (off - pos))
            data = struct.pack(f"<{n}f", *([1.0] * n)) if gtype == 0 else random_q8_0(n) if gtype == 8 else random_bf16(n)
            f.write(data)
            pos = off + len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--like", choices=sorted(SHAPES), default="qwen3-0.6b")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, help="override the layer count")
    ap.add_argument("--format", choices=["safetensors", "gguf"], default="safetensors")
    ap.add_argument("--type", choices=["bf16", "q8_0"], default="bf16", help="GGUF matrix type")
    args = ap.parse_args()
    H, I, L, nH, nKV, d, tied = SHAPES[args.like]
    L = args.layers or L
    tensors = [("model.embed_tokens.weight", (VOCAB, H))]
    for l in range(L):
        p = f"model.layers.{l}."
        tensors += [
            (p + "input_layernorm.weight", (H,)), (p + "post_attention_layernorm.weight", (H,)),
            (p + "self_attn.q_proj.weight", (nH * d, H)), (p + "self_attn.k_proj.weight", (nKV * d, H)),
            (p + "self_attn.v_proj.weight", (nKV * d, H)), (p + "self_attn.o_proj.weight", (H, nH * d)),
            (p + "self_attn.q_norm.weight", (d,)), (p + "self_attn.k_norm.weight", (d,)),
            (p + "mlp.gate_proj.weight", (I, H)), (p + "mlp.up_proj.weight", (I, H)),
            (p + "mlp.down_proj.weight", (H, I)),
        ]
    tensors.append(("model.norm.weight", (H,)))
    if not tied:
        tensors.append(("lm_head.weight", (VOCAB, H)))
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": d,
        "hidden_act": "silu", "hidden_size": H, "initializer_range": 0.02, "intermediate_size": I,
        "max_position_embeddings": 40960, "max_window_layers": L, "num_attention_heads": nH,
        "num_hidden_layers": L, "num_key_value_heads": nKV, "rms_norm_eps": 1e-06, "rope_scaling": None,
        "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": tied, "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": VOCAB,
    }
    if args.format == "gguf":
        write_gguf(args.out, tensors, config, args.type)
        print(f"wrote {args.out}: {L} layers, {os.path.getsize(args.out) / 1e9:.3f} GB")
        return
    header, offset = {}, 0
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + 2 * n]}
        offset += 2 * n
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hjson)) + hjson)
        for name, shape in tensors:
            n = 1
            for s in shape:
                n *= s
            f.write(b"\x80\x3f" * n if len(shape) == 1 else random_bf16(n))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {args.out}: {L} layers, {offset / 1e9:.3f} GB of bf16 weights")


if __name__ == "__main__":
    main()
