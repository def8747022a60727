#!/usr/bin/env python3
"""Write a random-weight Qwen3 dense checkpoint with a released model's real shapes, for benchmarks.

    python3 tools/make_random_qwen3.py --like qwen3-0.6b --out /tmp/qwen3-0.6b-random

Writes config.json (as the hub ships it) and one bf16 model.safetensors. Values are random bf16 with
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--like", choices=sorted(SHAPES), default="qwen3-0.6b")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, help="override the layer count")
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
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": d,
        "hidden_act": "silu", "hidden_size": H, "initializer_range": 0.02, "intermediate_size": I,
        "max_position_embeddings": 40960, "max_window_layers": L, "num_attention_heads": nH,
        "num_hidden_layers": L, "num_key_value_heads": nKV, "rms_norm_eps": 1e-06, "rope_scaling": None,
        "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": tied, "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": VOCAB,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {args.out}: {L} layers, {offset / 1e9:.3f} GB of bf16 weights")


if __name__ == "__main__":
    main()
