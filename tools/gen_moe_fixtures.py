#!/usr/bin/env python3
"""Generate tiny random Mixture-of-Experts checkpoints (Qwen3-MoE, GPT-OSS) in their released layouts,
with reference logits from Hugging Face transformers, for owl's MoE tests.

What it makes (under --out):

  qwen3_moe/<case>/   config.json, model.safetensors (bf16, per-expert tensors
                      mlp.experts.E.{gate,up,down}_proj.weight + router mlp.gate.weight,
                      as transformers 5.x save_pretrained and the hub files write them)
  gpt_oss/<case>/     config.json, model.safetensors: either MXFP4 experts as released
                      (*_blocks uint8 [E, out, in/32, 16], *_scales uint8 [E, out, in/32], bf16 biases,
                      quantization_config {quant_method: mxfp4}) or the bf16 layout
                      (gate_up_proj [E, H, 2I] with gate/up interleaved columns, down_proj [E, I, H])
  each case also:     logits.f32 (float32 LE, row-major [n_rows][n_vocab]; row r = logits after token r
                      of prompt+greedy) and reference.json (prompt, greedy, margins, router gaps, RoPE
                      tables, clamp statistics, the observed sliding window, versions).

References: float64, attn_implementation="eager", experts_implementation="eager" (the default grouped
kernels refuse float64 and sum in another order), loaded back from the written directory; every loaded
parameter is compared with what was written. For the MXFP4 case the reference model is loaded from a
bf16-layout copy of the dequantized weights (scratch directory, not kept), and the MXFP4 directory is then
loaded through transformers' own loader with Mxfp4Config(dequantize=True): its expert parameters must
equal ours bit for bit and its logits must equal the reference (the proof of the packing).

Prompts are re-drawn until greedy steps have a top1-top2 margin >= MIN_MARGIN and every router decision
has a gap >= MIN_ROUTER_GAP between the k-th and (k+1)-th expert score, so tests are not decided by
rounding.

How to run (torch, transformers >= 5.17, safetensors; CPU is enough):
    python3 tools/gen_moe_fixtures.py --out DIR
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import safetensors  # noqa: E402
from safetensors.torch import save_file, load_file  # noqa: E402
import transformers  # noqa: E402
from transformers import GptOssConfig, GptOssForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM  # noqa: E402

from gen_qwen3_fixtures import forward_logits, greedy, log, margins_of, write_f32  # noqa: E402

N_GEN = 8
MIN_MARGIN = 0.05
MIN_ROUTER_GAP = 2e-4
MAX_PROMPT_ATTEMPTS = 300

FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]

QWEN3_MOE_CASES = [
    dict(
        family="qwen3_moe", name="norm-mlp-only", style="released", seed=7101,
        vocab=384, hidden=64, heads=4, kv_heads=2, head_dim=32, inter=96, moe_inter=48, experts=8, top_k=2,
        layers=3, mlp_only_layers=[1], sparse_step=1, norm_topk=True, tied=False, rope_theta=1000000.0,
        max_pos=4096, prompt_len=20,
        note="norm_topk_prob true (released), 8 experts top-2, layer 1 dense via mlp_only_layers, untied",
    ),
    dict(
        family="qwen3_moe", name="nonorm-sparse-step", style="v5", seed=7203,
        vocab=320, hidden=48, heads=4, kv_heads=1, head_dim=16, inter=64, moe_inter=32, experts=6, top_k=3,
        layers=4, mlp_only_layers=[], sparse_step=2, norm_topk=False, tied=False, rope_theta=10000.0,
        max_pos=2048, prompt_len=22,
        note="norm_topk_prob false, 6 experts top-3, decoder_sparse_step 2 (layers 0, 2 dense), v5 config "
             "(num_local_experts spelling, rope_parameters)",
    ),
]

GPT_OSS_CASES = [
    dict(
        family="gpt_oss", name="mxfp4-released", style="released", seed=8101, mxfp4=True,
        vocab=320, hidden=64, heads=4, kv_heads=2, head_dim=32, inter=64, experts=8, top_k=4, layers=4,
        sliding_window=4, layer_types=["sliding_attention", "full_attention"] * 2,
        rope_theta=150000.0,
        rope_scaling={"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                      "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": False},
        max_pos=131072, prompt_len=22,
        gu_scale_exp=(-3, -2), down_scale_exp=(-6, -5),
        note="MXFP4 experts as released, 8 experts top-4, window 4 < prompt, alternating layer_types, "
             "released YaRN (factor 32, original 4096, truncate false), released-style config",
    ),
    dict(
        family="gpt_oss", name="bf16-v5", style="v5", seed=8202, mxfp4=False,
        vocab=288, hidden=48, heads=3, kv_heads=1, head_dim=24, inter=40, experts=4, top_k=2, layers=2,
        sliding_window=5, layer_types=["full_attention", "sliding_attention"],
        rope_theta=10000.0,
        rope_scaling={"beta_fast": 16.0, "beta_slow": 2.0, "factor": 8.0,
                      "original_max_position_embeddings": 64, "rope_type": "yarn", "truncate": False},
        max_pos=512, prompt_len=24,
        gu_scale_exp=(-3, -2), down_scale_exp=(-6, -5),
        note="bf16 expert layout (gate_up_proj [E, H, 2I] interleaved, down_proj [E, I, H]), MQA 3q/1kv, "
             "head_dim 24 (q 72 != hidden 48), layer_types full then sliding (not parity), window 5, "
             "YaRN factor 8 original 64 beta 16/2 truncate false, v5 config (rope_parameters)",
    ),
]


# --------------------------------------------------------------------------------------------
# random weights


def rnd(g, shape, std):
    return torch.randn(shape, generator=g, dtype=torch.float64) * std


def bf16(t):
    return t.to(torch.bfloat16).contiguous()


def qwen3_moe_sparse(c, l):
    return l not in c["mlp_only_layers"] and c["experts"] > 0 and (l + 1) % c["sparse_step"] == 0


def qwen3_moe_weights(c):
    """Released names -> bf16 tensors (per-expert tensors, router without bias)."""
    g = torch.Generator().manual_seed(c["seed"])
    V, H, nH, nKV, d = c["vocab"], c["hidden"], c["heads"], c["kv_heads"], c["head_dim"]
    t = {"model.embed_tokens.weight": rnd(g, (V, H), 2.0 / math.sqrt(H) if c["tied"] else 0.5)}
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        t[p + "self_attn.q_proj.weight"] = rnd(g, (nH * d, H), 1 / math.sqrt(H))
        t[p + "self_attn.k_proj.weight"] = rnd(g, (nKV * d, H), 1 / math.sqrt(H))
        t[p + "self_attn.v_proj.weight"] = rnd(g, (nKV * d, H), 1 / math.sqrt(H))
        t[p + "self_attn.o_proj.weight"] = rnd(g, (H, nH * d), 0.5 / math.sqrt(nH * d))
        t[p + "self_attn.q_norm.weight"] = 0.6 + 1.2 * torch.rand((d,), generator=g, dtype=torch.float64)
        t[p + "self_attn.k_norm.weight"] = 0.6 + 1.2 * torch.rand((d,), generator=g, dtype=torch.float64)
        if qwen3_moe_sparse(c, l):
            E, I = c["experts"], c["moe_inter"]
            t[p + "mlp.gate.weight"] = rnd(g, (E, H), 2.0 / math.sqrt(H))
            for e in range(E):
                q = f"{p}mlp.experts.{e}."
                t[q + "gate_proj.weight"] = rnd(g, (I, H), 1 / math.sqrt(H))
                t[q + "up_proj.weight"] = rnd(g, (I, H), 1 / math.sqrt(H))
                t[q + "down_proj.weight"] = rnd(g, (H, I), 0.5 / math.sqrt(I))
        else:
            I = c["inter"]
            t[p + "mlp.gate_proj.weight"] = rnd(g, (I, H), 1 / math.sqrt(H))
            t[p + "mlp.up_proj.weight"] = rnd(g, (I, H), 1 / math.sqrt(H))
            t[p + "mlp.down_proj.weight"] = rnd(g, (H, I), 0.5 / math.sqrt(I))
        t[p + "input_layernorm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
        t[p + "post_attention_layernorm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
    t["model.norm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
    if not c["tied"]:
        t["lm_head.weight"] = rnd(g, (V, H), 2.0 / math.sqrt(H))
    return {k: bf16(v) for k, v in t.items()}


def mxfp4_random(g, E, n_out, n_in, exps):
    """Random MXFP4 blocks/scales [E, n_out, n_in/32, 16] / [E, n_out, n_in/32] (uint8) and their exact
    dequantization [E, n_out, n_in] (float64): low nibble -> input 32g+2j, high nibble -> 32g+2j+1,
    value = FP4[code] * 2^(scale - 127). Written independently of transformers' convert_moe_packed_tensors."""
    G = (n_in + 31) // 32  # the bf16-layout cases may have n_in % 32 != 0: values are cut to n_in
    blocks = torch.randint(0, 256, (E, n_out, G, 16), generator=g, dtype=torch.int64)
    lo, hi = exps
    scales = torch.randint(127 + lo, 127 + hi + 1, (E, n_out, G), generator=g, dtype=torch.int64)
    lut = torch.tensor(FP4_VALUES, dtype=torch.float64)
    codes = torch.empty((E, n_out, G, 32), dtype=torch.int64)
    codes[..., 0::2] = blocks & 0x0F
    codes[..., 1::2] = blocks >> 4
    vals = lut[codes] * torch.pow(2.0, (scales - 127).to(torch.float64))[..., None]
    return blocks.to(torch.uint8), scales.to(torch.uint8), vals.reshape(E, n_out, G * 32)[..., :n_in].contiguous()


def gpt_oss_weights(c):
    """(file tensors, dequantized expert matrices [E, out, in] float64). File tensors use the released names:
    MXFP4 *_blocks/*_scales + bf16 biases, or the bf16 layout (input-major [E, in, out])."""
    g = torch.Generator().manual_seed(c["seed"])
    V, H, nH, nKV, d, E, I = (c[k] for k in ("vocab", "hidden", "heads", "kv_heads", "head_dim", "experts", "inter"))
    t = {"model.embed_tokens.weight": rnd(g, (V, H), 0.5)}
    deq = {}
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
        t[p + "post_attention_layernorm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
        for nm, shape in (("q_proj", (nH * d, H)), ("k_proj", (nKV * d, H)), ("v_proj", (nKV * d, H))):
            t[p + f"self_attn.{nm}.weight"] = rnd(g, shape, 1.2 / math.sqrt(H))
            t[p + f"self_attn.{nm}.bias"] = rnd(g, (shape[0],), 0.5)
        t[p + "self_attn.o_proj.weight"] = rnd(g, (H, nH * d), 0.5 / math.sqrt(nH * d))
        t[p + "self_attn.o_proj.bias"] = rnd(g, (H,), 0.3)
        t[p + "self_attn.sinks"] = rnd(g, (nH,), 1.5)
        t[p + "mlp.router.weight"] = rnd(g, (E, H), 2.0 / math.sqrt(H))
        t[p + "mlp.router.bias"] = rnd(g, (E,), 0.5)
        b_gu, s_gu, w_gu = mxfp4_random(g, E, 2 * I, H, c["gu_scale_exp"])
        b_d, s_d, w_d = mxfp4_random(g, E, H, I, c["down_scale_exp"])
        deq[l] = (w_gu, w_d)
        q = p + "mlp.experts."
        if c["mxfp4"]:
            t[q + "gate_up_proj_blocks"], t[q + "gate_up_proj_scales"] = b_gu, s_gu
            t[q + "down_proj_blocks"], t[q + "down_proj_scales"] = b_d, s_d
        else:
            t[q + "gate_up_proj"] = w_gu.transpose(1, 2)  # [E, H, 2I], columns interleaved gate/up
            t[q + "down_proj"] = w_d.transpose(1, 2)      # [E, I, H]
        t[q + "gate_up_proj_bias"] = rnd(g, (E, 2 * I), 1.0)
        t[q + "down_proj_bias"] = rnd(g, (E, H), 0.5)
    t["model.norm.weight"] = 0.5 + torch.rand((H,), generator=g, dtype=torch.float64)
    t["lm_head.weight"] = rnd(g, (V, H), 2.0 / math.sqrt(H))
    out = {k: (v.contiguous() if v.dtype == torch.uint8 else bf16(v)) for k, v in t.items()}
    return out, deq


def bf16_layout_of(c, tensors, deq):
    """The same model in the bf16 expert layout (what transformers holds in memory after dequantizing)."""
    out = {k: v for k, v in tensors.items() if not (k.endswith("_blocks") or k.endswith("_scales"))}
    for l, (w_gu, w_d) in deq.items():
        q = f"model.layers.{l}.mlp.experts."
        out[q + "gate_up_proj"] = bf16(w_gu.transpose(1, 2))
        out[q + "down_proj"] = bf16(w_d.transpose(1, 2))
    return out


# --------------------------------------------------------------------------------------------
# configs


def make_config(cls, kw):
    try:
        return cls(dtype="bfloat16", **kw)
    except TypeError as e:
        log(f"  {cls.__name__}(dtype=...) failed ({e!r}); setting the attribute instead")
        cfg = cls(**kw)
        cfg.dtype = torch.bfloat16
        return cfg


def qwen3_moe_config(c, d):
    L = c["layers"]
    if c["style"] == "released":
        cfg = {
            "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
            "bos_token_id": c["vocab"] - 2, "decoder_sparse_step": c["sparse_step"], "eos_token_id": c["vocab"] - 1,
            "head_dim": c["head_dim"], "hidden_act": "silu", "hidden_size": c["hidden"], "initializer_range": 0.02,
            "intermediate_size": c["inter"], "max_position_embeddings": c["max_pos"], "max_window_layers": L,
            "mlp_only_layers": c["mlp_only_layers"], "model_type": "qwen3_moe",
            "moe_intermediate_size": c["moe_inter"], "norm_topk_prob": c["norm_topk"],
            "num_attention_heads": c["heads"], "num_experts": c["experts"], "num_experts_per_tok": c["top_k"],
            "num_hidden_layers": L, "num_key_value_heads": c["kv_heads"], "output_router_logits": False,
            "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": c["rope_theta"],
            "router_aux_loss_coef": 0.001, "sliding_window": None, "tie_word_embeddings": c["tied"],
            "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
            "use_sliding_window": False, "vocab_size": c["vocab"],
        }
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    else:
        kw = dict(
            vocab_size=c["vocab"], hidden_size=c["hidden"], intermediate_size=c["inter"],
            moe_intermediate_size=c["moe_inter"], num_hidden_layers=L, num_attention_heads=c["heads"],
            num_key_value_heads=c["kv_heads"], head_dim=c["head_dim"], hidden_act="silu",
            max_position_embeddings=c["max_pos"], rms_norm_eps=1e-6, tie_word_embeddings=c["tied"],
            rope_parameters={"rope_type": "default", "rope_theta": c["rope_theta"]}, attention_bias=False,
            decoder_sparse_step=c["sparse_step"], mlp_only_layers=c["mlp_only_layers"],
            num_experts=c["experts"], num_experts_per_tok=c["top_k"], norm_topk_prob=c["norm_topk"],
            bos_token_id=c["vocab"] - 2, eos_token_id=c["vocab"] - 1, architectures=["Qwen3MoeForCausalLM"],
        )
        cfg = make_config(Qwen3MoeConfig, kw)
        cfg.save_pretrained(d)
    with open(os.path.join(d, "config.json")) as f:
        return f.read()


def gpt_oss_config(c, d):
    L = c["layers"]
    if c["style"] == "released":
        cfg = {
            "architectures": ["GptOssForCausalLM"], "attention_bias": True, "attention_dropout": 0.0,
            "eos_token_id": c["vocab"] - 1, "experts_per_token": c["top_k"], "head_dim": c["head_dim"],
            "hidden_act": "silu", "hidden_size": c["hidden"], "initial_context_length": 4096,
            "initializer_range": 0.02, "intermediate_size": c["inter"], "layer_types": c["layer_types"],
            "max_position_embeddings": c["max_pos"], "model_type": "gpt_oss",
            "num_attention_heads": c["heads"], "num_experts_per_tok": c["top_k"], "num_hidden_layers": L,
            "num_key_value_heads": c["kv_heads"], "num_local_experts": c["experts"],
            "output_router_logits": False, "pad_token_id": c["vocab"] - 2, "rms_norm_eps": 1e-05,
            "rope_scaling": c["rope_scaling"], "rope_theta": c["rope_theta"], "router_aux_loss_coef": 0.9,
            "sliding_window": c["sliding_window"], "swiglu_limit": 7.0, "tie_word_embeddings": False,
            "transformers_version": "4.55.0.dev0", "use_cache": True, "vocab_size": c["vocab"],
        }
        if c["mxfp4"]:
            cfg["quantization_config"] = {
                "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                           "model.embed_tokens", "lm_head"],
                "quant_method": "mxfp4"}
        else:
            cfg["torch_dtype"] = "bfloat16"
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    else:
        rope = dict(c["rope_scaling"])
        rope["rope_theta"] = c["rope_theta"]
        kw = dict(
            vocab_size=c["vocab"], hidden_size=c["hidden"], intermediate_size=c["inter"], num_hidden_layers=L,
            num_attention_heads=c["heads"], num_key_value_heads=c["kv_heads"], head_dim=c["head_dim"],
            num_local_experts=c["experts"], num_experts_per_tok=c["top_k"], sliding_window=c["sliding_window"],
            layer_types=c["layer_types"], rope_parameters=rope, max_position_embeddings=c["max_pos"],
            rms_norm_eps=1e-5, attention_bias=True, tie_word_embeddings=False, swiglu_limit=7.0,
            eos_token_id=c["vocab"] - 1, pad_token_id=c["vocab"] - 2, architectures=["GptOssForCausalLM"],
        )
        cfg = make_config(GptOssConfig, kw)
        cfg.save_pretrained(d)
    with open(os.path.join(d, "config.json")) as f:
        return f.read()


# --------------------------------------------------------------------------------------------
# loading and checks


def load_ref(cls, d, strict=True, **extra):
    kw = dict(dtype=torch.float64, attn_implementation="eager", experts_implementation="eager",
              output_loading_info=True)
    kw.update(extra)
    try:
        model, info = cls.from_pretrained(d, **kw)
    except TypeError as e:
        log(f"  from_pretrained({sorted(kw)}) raised {e!r}; retrying without experts_implementation")
        kw.pop("experts_implementation")
        model, info = cls.from_pretrained(d, **kw)
        model.set_experts_implementation("eager")
    model.eval()
    impl = (getattr(model.config, "_attn_implementation", None), getattr(model.config, "_experts_implementation", None))
    log(f"  loaded {cls.__name__} from {os.path.basename(d)}: attn/experts implementation {impl}")
    problems = [] if impl[0] == "eager" and impl[1] in (None, "eager") else [f"implementations {impl}"]
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        v = [x for x in (info.get(k) or []) if "lm_head" not in str(x)]
        if v:
            problems.append(f"from_pretrained {k}: {sorted(v)}")
    if problems and strict:
        raise AssertionError("; ".join(problems))
    for pr in problems:
        log(f"  WARNING: {pr}")
    return model


def check_params(model, expected):
    """expected: in-memory name -> float64 tensor; every one must be loaded bit-exactly."""
    sd = model.state_dict()
    for n, t in expected.items():
        if n not in sd:
            raise AssertionError(f"no parameter {n}; have e.g. {sorted(k for k in sd if '.0.' in k)[:40]}")
        got = sd[n]
        if tuple(got.shape) != tuple(t.shape) or not torch.equal(got.to(torch.float64), t.to(torch.float64)):
            diff = (got.to(torch.float64) - t.to(torch.float64)).abs().max() if got.shape == t.shape else "shape"
            raise AssertionError(f"parameter {n}: shape {tuple(got.shape)} vs {tuple(t.shape)}, max diff {diff}")
    log(f"  {len(expected)} parameters loaded back bit-exactly")


def qwen3_moe_in_memory(c, tensors):
    """Released per-expert tensors -> the names/shapes transformers 5 holds (experts fused)."""
    exp = {}
    for n, t in tensors.items():
        if ".mlp.experts." not in n:
            exp[n] = t
    for l in range(c["layers"]):
        if not qwen3_moe_sparse(c, l):
            continue
        p = f"model.layers.{l}.mlp.experts."
        E = c["experts"]
        exp[p + "gate_up_proj"] = torch.stack(
            [torch.cat([tensors[f"{p}{e}.gate_proj.weight"], tensors[f"{p}{e}.up_proj.weight"]], 0) for e in range(E)])
        exp[p + "down_proj"] = torch.stack([tensors[f"{p}{e}.down_proj.weight"] for e in range(E)])
    return exp


def layer_summary(model):
    out = []
    for l, layer in enumerate(model.model.layers):
        mlp = layer.mlp
        out.append({"layer": l, "mlp": type(mlp).__name__,
                    "experts": type(getattr(mlp, "experts", None)).__name__ if hasattr(mlp, "experts") else None,
                    "attention_type": getattr(layer, "attention_type", None)})
    return out


class RouterProbe:
    """Records each MoE block's input to measure routing gaps and clamp hits."""

    def __init__(self, model):
        self.inputs = {}
        self.hooks = []
        for l, layer in enumerate(model.model.layers):
            mlp = layer.mlp
            if hasattr(mlp, "experts") and (hasattr(mlp, "gate") or hasattr(mlp, "router")):
                self.hooks.append(mlp.register_forward_pre_hook(self._hook(l), with_kwargs=True))

    def _hook(self, l):
        def f(module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            self.inputs[l] = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
        return f

    def clear(self):
        self.inputs = {}

    def remove(self):
        for h in self.hooks:
            h.remove()


def router_stats(c, tensors, deq, probe):
    """Min gap between the k-th and (k+1)-th routing score over all tokens of the last forward, and (GPT-OSS)
    how many selected expert pre-activations hit the clamp."""
    k, E = c["top_k"], c["experts"]
    gap, clamp = float("inf"), {"gate_above": 0, "up_beyond": 0, "total": 0}
    for l, x in probe.inputs.items():
        p = f"model.layers.{l}.mlp."
        if c["family"] == "qwen3_moe":
            r = x @ tensors[p + "gate.weight"].to(torch.float64).T
            s = torch.softmax(r, dim=-1)
        else:
            s = x @ tensors[p + "router.weight"].to(torch.float64).T + tensors[p + "router.bias"].to(torch.float64)
        top = torch.topk(s, min(k + 1, E), dim=-1)
        if k < E:
            gap = min(gap, float((top.values[:, k - 1] - top.values[:, k]).min()))
        if c["family"] == "gpt_oss":
            w_gu = deq[l][0]
            b = tensors[p + "experts.gate_up_proj_bias"].to(torch.float64)
            for j in range(k):
                e = top.indices[:, j]
                z = torch.einsum("th,toh->to", x, w_gu[e]) + b[e]
                clamp["gate_above"] += int((z[:, 0::2] > 7.0).sum())
                clamp["up_beyond"] += int((z[:, 1::2].abs() > 7.0).sum())
                clamp["total"] += z.shape[0] * z.shape[1] // 2
    return gap, clamp


def observed_windows(model, ids):
    """From output_attentions: per layer, the smallest window W such that every query i attends exactly to
    keys max(0, i-W+1)..i (0 means full causal). Checks what the eager mask really does."""
    o = model(input_ids=torch.tensor([ids]), use_cache=False, output_attentions=True)
    res = []
    for a in o.attentions:
        a = a[0]  # [nH, T, T]
        T = a.shape[-1]
        nz = (a != 0).any(dim=0)  # [T, T]
        widths = set()
        for i in range(T):
            cols = torch.nonzero(nz[i]).flatten().tolist()
            assert cols == list(range(cols[0], i + 1)), (i, cols)
            widths.add(i - cols[0] + 1 if cols[0] > 0 else None)
        w = [x for x in widths if x is not None]
        res.append(max(w) if w else 0)
    return res


def rope_info(model):
    rot = model.model.rotary_emb
    inv = rot.inv_freq.detach().cpu()
    return {"type": getattr(rot, "rope_type", None), "attention_scaling": float(rot.attention_scaling),
            "inv_freq": [float(x) for x in inv.to(torch.float64).tolist()], "inv_freq_dtype": str(inv.dtype)}


def write_weights(d, tensors):
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


@torch.no_grad()
def pick_prompt(c, model, tensors, deq):
    V, P = c["vocab"], c["prompt_len"]
    probe = RouterProbe(model)
    best = None
    for attempt in range(MAX_PROMPT_ATTEMPTS):
        gp = torch.Generator().manual_seed(c["seed"] * 1000 + attempt)
        prompt = torch.randint(0, V - 2, (P,), generator=gp).tolist()
        gen, step_rows = greedy(model, prompt, N_GEN)
        probe.clear()
        logits = forward_logits(model, prompt + gen)
        gap, clamp = router_stats(c, tensors, deq, probe)
        for i in range(N_GEN):
            assert int(torch.argmax(logits[P - 1 + i])) == gen[i], "full forward disagrees with greedy"
        margins = margins_of(logits, P, gen)
        step_diff = max(float((logits[P - 1 + i] - step_rows[i]).abs().max()) for i in range(N_GEN))
        score = min(min(margins) / MIN_MARGIN, gap / MIN_ROUTER_GAP)
        cand = dict(score=score, attempt=attempt, prompt=prompt, gen=gen, logits=logits, margins=margins,
                    step_diff=step_diff, router_gap=gap, clamp=clamp)
        if best is None or score > best["score"]:
            best = cand
        if score >= 1.0:
            break
    probe.remove()
    if best["score"] < 1.0:
        log(f"  WARNING: no prompt met margin {MIN_MARGIN} and router gap {MIN_ROUTER_GAP}; best score {best['score']}")
    return best


def reference_json(c, d, best, extra):
    ref = {
        "case": c["name"], "family": c["family"], "note": c["note"], "config_style": c["style"], "seed": c["seed"],
        "prompt_attempt": best["attempt"], "prompt": best["prompt"], "greedy": best["gen"],
        "n_prompt": len(best["prompt"]), "n_gen": N_GEN, "n_vocab": c["vocab"],
        "n_rows": len(best["prompt"]) + N_GEN, "logits_file": "logits.f32",
        "logits_layout": "float32 little-endian, row-major [n_rows][n_vocab]; row r = logits after token r of prompt+greedy",
        "margins": best["margins"], "min_margin": min(best["margins"]),
        "max_abs_logit": float(best["logits"].abs().max()), "step_vs_full_max_abs_diff": best["step_diff"],
        "router_min_gap": best["router_gap"], "clamp_hits": best["clamp"],
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "safetensors_version": getattr(safetensors, "__version__", None), "dtype": "float64",
        "attn_implementation": "eager", "experts_implementation": "eager", "device": "cpu",
    }
    ref.update(extra)
    with open(os.path.join(d, "reference.json"), "w") as f:
        f.write(json.dumps(ref, indent=1) + "\n")
    write_f32(os.path.join(d, "logits.f32"), best["logits"])
    files = {fn: os.path.getsize(os.path.join(d, fn)) for fn in sorted(os.listdir(d))}
    log(f"  prompt attempt {best['attempt']}: {best['prompt']}\n  greedy {best['gen']}\n"
        f"  margins {[round(m, 4) for m in best['margins']]} router gap {best['router_gap']:.3g} "
        f"clamp {best['clamp']} max|logit| {ref['max_abs_logit']:.3f} step-vs-full {best['step_diff']:.3g}")
    log(f"  files {files} total {sum(files.values())}")
    return dict(case=c["name"], family=c["family"], files=files, note=c["note"], max_abs=ref["max_abs_logit"],
                min_margin=ref["min_margin"], gap=best["router_gap"], clamp=best["clamp"], extra=extra)


# --------------------------------------------------------------------------------------------
# cases


@torch.no_grad()
def run_qwen3_moe(c, out):
    d = os.path.join(out, "qwen3_moe", c["name"])
    os.makedirs(d, exist_ok=True)
    log(f"\n=== qwen3_moe/{c['name']} ===")
    log("  config.json:\n" + qwen3_moe_config(c, d))
    tensors = qwen3_moe_weights(c)
    write_weights(d, tensors)
    model = load_ref(Qwen3MoeForCausalLM, d)
    layers = layer_summary(model)
    log(f"  layers: {layers}")
    for l, s in enumerate(layers):
        want = qwen3_moe_sparse(c, l)
        assert (s["experts"] is not None) == want, (l, s, want)
    check_params(model, qwen3_moe_in_memory(c, tensors))
    best = pick_prompt(c, model, tensors, None)
    return reference_json(c, d, best, {"layers": layers, "rope": rope_info(model)})


@torch.no_grad()
def run_gpt_oss(c, out, scratch):
    d = os.path.join(out, "gpt_oss", c["name"])
    os.makedirs(d, exist_ok=True)
    log(f"\n=== gpt_oss/{c['name']} ===")
    log("  config.json:\n" + gpt_oss_config(c, d))
    tensors, deq = gpt_oss_weights(c)
    write_weights(d, tensors)
    in_memory = {k: v for k, v in bf16_layout_of(c, tensors, deq).items()}
    extra = {}
    if c["mxfp4"]:
        # the reference model reads a bf16-layout copy of the same (dequantized) weights
        rd = os.path.join(scratch, c["name"] + "-bf16")
        os.makedirs(rd, exist_ok=True)
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg.pop("quantization_config")
        cfg["torch_dtype"] = "bfloat16"
        json.dump(cfg, open(os.path.join(rd, "config.json"), "w"), indent=2)
        write_weights(rd, in_memory)
        model = load_ref(GptOssForCausalLM, rd)
    else:
        model = load_ref(GptOssForCausalLM, d)
    layers = layer_summary(model)
    log(f"  layers: {layers}")
    check_params(model, in_memory)
    best = pick_prompt(c, model, tensors, deq)
    extra["layers"] = layers
    extra["rope"] = rope_info(model)
    try:
        extra["observed_window"] = observed_windows(model, best["prompt"] + best["gen"])
    except Exception:
        log("  observed_windows failed:\n" + traceback.format_exc())
        extra["observed_window"] = None
    want = [c["sliding_window"] if t == "sliding_attention" else 0 for t in c["layer_types"]]
    log(f"  observed window per layer {extra['observed_window']} (config {want})")
    extra["window_as_configured"] = extra["observed_window"] == want
    if c["mxfp4"]:
        extra["mxfp4_proof"] = mxfp4_proof(c, d, in_memory, best)
    return reference_json(c, d, best, extra)


@torch.no_grad()
def mxfp4_proof(c, d, in_memory, best):
    """Load the MXFP4 directory through transformers' own MXFP4 loader (dequantize=True): its expert
    parameters must equal our dequantization and its logits the reference."""
    from transformers import Mxfp4Config
    res = {}
    for dtype in (torch.float64, torch.bfloat16):
        try:
            m = load_ref(GptOssForCausalLM, d, strict=False, dtype=dtype,
                         quantization_config=Mxfp4Config(dequantize=True))
            m = m.to(torch.float64)  # exact: every stored value is bf16-representable
            sd = m.state_dict()
            worst = 0.0
            for n, t in in_memory.items():
                if ".mlp.experts." in n:
                    worst = max(worst, float((sd[n].to(torch.float64) - t.to(torch.float64)).abs().max()))
            ids = best["prompt"] + best["gen"]
            lg = forward_logits(m, ids)
            ld = float((lg - best["logits"]).abs().max())
            res = {"load_dtype": str(dtype), "expert_params_max_abs_diff": worst, "logits_max_abs_diff": ld,
                   "ok": worst == 0.0 and ld == 0.0}
            log(f"  MXFP4 proof ({dtype}): expert params max diff {worst}, logits max diff {ld}")
            break
        except Exception:
            log(f"  MXFP4 load with dtype {dtype} failed:\n" + traceback.format_exc())
            res = {"load_dtype": str(dtype), "error": traceback.format_exc()[-2000:]}
    return res


def write_readme(out, family, results, title):
    lines = [f"# {title} fixtures (tiny random models + HF reference logits)", "",
             "Generated by `tools/gen_moe_fixtures.py` with transformers "
             f"{transformers.__version__}, torch {torch.__version__}, on CPU, float64, eager attention and eager "
             "experts. See the script's docstring for the layout of `logits.f32` and `reference.json`.", "",
             "| case | max abs logit | min greedy margin | min router gap | files |", "|---|---|---|---|---|"]
    for r in results:
        if r["family"] != family:
            continue
        fs = ", ".join(f"{k} ({v} B)" for k, v in r["files"].items())
        lines.append(f"| `{r['case']}` | {r['max_abs']:.3f} | {r['min_margin']:.4f} | {r['gap']:.3g} | {fs} |")
    lines += ["", "Notes:", ""]
    for r in results:
        if r["family"] == family:
            lines.append(f"* `{r['case']}`: {r['note']}" + (f"; clamp hits {r['clamp']}" if r["clamp"]["total"] else ""))
            if "mxfp4_proof" in r["extra"]:
                lines.append(f"  MXFP4 proof (transformers Mxfp4Config(dequantize=True) load): {r['extra']['mxfp4_proof']}")
            if "observed_window" in r["extra"]:
                lines.append(f"  observed attention window per layer (0 = full): {r['extra']['observed_window']}")
    lines.append("")
    with open(os.path.join(out, family, "README.md"), "w") as f:
        f.write("\n".join(lines))


def dump_sources():
    """Log the transformers code the fixtures depend on, so the C side can be checked against it."""
    import inspect
    import transformers.models.gpt_oss.modeling_gpt_oss as go
    import transformers.models.qwen3_moe.modeling_qwen3_moe as qm
    import transformers.masking_utils as mu
    for obj in (go.GptOssExperts, go.GptOssTopKRouter, go.eager_attention_forward, qm.Qwen3MoeTopKRouter,
                qm.Qwen3MoeExperts, qm.Qwen3MoeSparseMoeBlock, qm.Qwen3MoeDecoderLayer.__init__,
                mu.sliding_window_overlay):
        try:
            log(f"\n----- source of {getattr(obj, '__qualname__', obj)} -----\n" + inspect.getsource(obj))
        except Exception as e:
            log(f"(no source for {obj}: {e!r})")
    try:
        from transformers.integrations import mxfp4
        log("\n----- source of convert_moe_packed_tensors -----\n" + inspect.getsource(mxfp4.convert_moe_packed_tensors))
    except Exception as e:
        log(f"(no mxfp4 source: {e!r})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases", default="", help="comma-separated subset of case names")
    ap.add_argument("--dump-sources", action="store_true")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__}")
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    want = [x for x in args.cases.split(",") if x]
    scratch = tempfile.mkdtemp(prefix="moe_ref_")
    results, failed = [], []
    for c in QWEN3_MOE_CASES + GPT_OSS_CASES:
        if want and c["name"] not in want:
            continue
        t0 = time.time()
        try:
            r = run_qwen3_moe(c, out) if c["family"] == "qwen3_moe" else run_gpt_oss(c, out, scratch)
            results.append(r)
        except Exception:
            log(f"CASE {c['family']}/{c['name']} FAILED:\n" + traceback.format_exc())
            failed.append(c["name"])
        log(f"  ({time.time() - t0:.1f}s)")
    shutil.rmtree(scratch, ignore_errors=True)
    for fam, title in (("qwen3_moe", "Qwen3-MoE"), ("gpt_oss", "GPT-OSS")):
        if any(r["family"] == fam for r in results):
            write_readme(out, fam, results, title)
    if args.dump_sources:
        dump_sources()
    log("\n=== summary ===")
    for r in results:
        log(f"{r['family']}/{r['case']}: max|logit| {r['max_abs']:.3f} min margin {r['min_margin']:.4f} "
            f"router gap {r['gap']:.3g} bytes {sum(r['files'].values())}")
    if failed:
        log(f"FAILED cases: {failed}")
        sys.exit(1)


if __name__ == "__main__":
    main()
