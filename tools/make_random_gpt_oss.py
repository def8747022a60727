#!/usr/bin/env python3
"""Write a random-weight GPT-OSS checkpoint with a released model's real shapes (MXFP4 experts), for
memory and speed measurements.

    python3 tools/make_random_gpt_oss.py --like gpt-oss-20b --out /tmp/gpt-oss-20b-random

Writes config.json (as the hub ships it: rope_scaling YaRN, quantization_config mxfp4, layer_types) and
model.safetensors with the released tensor names, dtypes and shapes: bf16 attention / router / embeddings /
biases, uint8 MXFP4 expert blocks (E, out, in/32, 16) and E8M0 scales (E, out, in/32). Values are random:
bf16 magnitudes in [2^-7, 2^-5) (norm weights 1.0), random E2M1 nibbles with scales 2^-9 .. 2^-6. The
numbers are meaningless; the shapes, bytes on disk and bytes read per token are the real model's.
Pure Python (no numpy): bytes come from os.urandom, shaped with bytes.translate, written in chunks.
"""
import argparse
import json
import os
import struct

SHAPES = {  # layers, experts, (hidden, intermediate, heads, kv heads, head_dim are shared)
    "gpt-oss-20b": (24, 32),
    "gpt-oss-120b": (36, 128),
}
H, I, N_HEAD, N_KV, D_HEAD, VOCAB, TOP_K, WINDOW = 2880, 2880, 64, 8, 64, 201088, 4, 128
# high byte of a bf16: keep the sign bit, force exponent 0x78/0x79 -> |x| in [2^-7, 2^-5)
HIGH = bytes(0x3C | (b & 0x80) for b in range(256))
SCALE = bytes(118 + (b & 3) for b in range(256))  # E8M0 2^-9 .. 2^-6
CHUNK = 1 << 26


def random_bf16(n):
    buf = bytearray(os.urandom(2 * n))
    buf[1::2] = bytes(buf[1::2]).translate(HIGH)
    return bytes(buf)


def tensors(n_layer, n_expert):
    """(name, dtype, shape, kind) in file order."""
    out = [("model.embed_tokens.weight", "BF16", (VOCAB, H), "w")]
    for l in range(n_layer):
        p = f"model.layers.{l}."
        out += [
            (p + "input_layernorm.weight", "BF16", (H,), "one"),
            (p + "post_attention_layernorm.weight", "BF16", (H,), "one"),
            (p + "self_attn.q_proj.weight", "BF16", (N_HEAD * D_HEAD, H), "w"),
            (p + "self_attn.q_proj.bias", "BF16", (N_HEAD * D_HEAD,), "w"),
            (p + "self_attn.k_proj.weight", "BF16", (N_KV * D_HEAD, H), "w"),
            (p + "self_attn.k_proj.bias", "BF16", (N_KV * D_HEAD,), "w"),
            (p + "self_attn.v_proj.weight", "BF16", (N_KV * D_HEAD, H), "w"),
            (p + "self_attn.v_proj.bias", "BF16", (N_KV * D_HEAD,), "w"),
            (p + "self_attn.o_proj.weight", "BF16", (H, N_HEAD * D_HEAD), "w"),
            (p + "self_attn.o_proj.bias", "BF16", (H,), "w"),
            (p + "self_attn.sinks", "BF16", (N_HEAD,), "w"),
            (p + "mlp.router.weight", "BF16", (n_expert, H), "w"),
            (p + "mlp.router.bias", "BF16", (n_expert,), "w"),
            (p + "mlp.experts.gate_up_proj_blocks", "U8", (n_expert, 2 * I, H // 32, 16), "blocks"),
            (p + "mlp.experts.gate_up_proj_scales", "U8", (n_expert, 2 * I, H // 32), "scales"),
            (p + "mlp.experts.gate_up_proj_bias", "BF16", (n_expert, 2 * I), "w"),
            (p + "mlp.experts.down_proj_blocks", "U8", (n_expert, H, I // 32, 16), "blocks"),
            (p + "mlp.experts.down_proj_scales", "U8", (n_expert, H, I // 32), "scales"),
            (p + "mlp.experts.down_proj_bias", "BF16", (n_expert, H), "w"),
        ]
    out += [("model.norm.weight", "BF16", (H,), "one"), ("lm_head.weight", "BF16", (VOCAB, H), "w")]
    return out


def n_elements(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def write_data(f, dtype, n, kind):
    size = 1 if dtype == "U8" else 2
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        if kind == "one":
            f.write(b"\x80\x3f" * m)
        elif kind == "w":
            f.write(random_bf16(m))
        elif kind == "blocks":
            f.write(os.urandom(m * size))
        else:
            f.write(os.urandom(m).translate(SCALE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--like", choices=sorted(SHAPES), default="gpt-oss-20b")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, help="override the layer count")
    args = ap.parse_args()
    n_layer, n_expert = SHAPES[args.like]
    n_layer = args.layers or n_layer
    ts = tensors(n_layer, n_expert)
    header, offset = {}, 0
    for name, dtype, shape, _ in ts:
        nb = n_elements(shape) * (1 if dtype == "U8" else 2)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nb]}
        offset += nb
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hjson)) + hjson)
        for name, dtype, shape, kind in ts:
            write_data(f, dtype, n_elements(shape), kind)
    config = {
        "architectures": ["GptOssForCausalLM"], "attention_bias": True, "attention_dropout": 0.0,
        "eos_token_id": 200002, "experts_per_token": TOP_K, "head_dim": D_HEAD, "hidden_act": "silu",
        "hidden_size": H, "initial_context_length": 4096, "initializer_range": 0.02, "intermediate_size": I,
        "layer_types": ["sliding_attention" if l % 2 == 0 else "full_attention" for l in range(n_layer)],
        "max_position_embeddings": 131072, "model_type": "gpt_oss", "num_attention_heads": N_HEAD,
        "num_experts_per_tok": TOP_K, "num_hidden_layers": n_layer, "num_key_value_heads": N_KV,
        "num_local_experts": n_expert, "output_router_logits": False, "pad_token_id": 199999,
        "quantization_config": {
            "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                       "model.embed_tokens", "lm_head"],
            "quant_method": "mxfp4"},
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                         "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": False},
        "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": WINDOW, "swiglu_limit": 7.0,
        "tie_word_embeddings": False, "transformers_version": "4.55.0.dev0", "use_cache": True,
        "vocab_size": VOCAB,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {args.out}: {n_layer} layers, {n_expert} experts, {offset / 1e9:.3f} GB")


if __name__ == "__main__":
    main()
