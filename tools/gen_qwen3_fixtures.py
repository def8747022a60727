#!/usr/bin/env python3
"""Generate tiny random Qwen3 (dense) checkpoints with reference logits from
Hugging Face transformers, for owl's loader / forward-pass / greedy tests.

What it makes
-------------
For every case in CASES a directory <out>/<case>/ holding

  config.json                 either "released" style (handwritten, shaped like
                              the hub files of April 2025: top-level rope_theta,
                              rope_scaling, torch_dtype, transformers_version
                              4.51.0) or "v5" style (whatever
                              Qwen3Config.save_pretrained of the installed
                              transformers writes: rope_parameters with
                              rope_theta inside, dtype, layer_types, ...)
  model.safetensors           bf16 weights with the exact HF tensor names
  (or model-0000k-of-00003.safetensors + model.safetensors.index.json for the
   sharded case; shards are split byte-balanced in module order, so one layer
   spans two files)
  logits.f32                  reference logits: raw float32 little-endian,
                              shape n_rows x n_vocab, row-major; row r holds the
                              logits after token r of prompt+greedy
  logits_fp32.f32             same rows, but from the model loaded with
                              dtype=float32 (what a fp32 engine should match
                              most closely); same layout
  reference.json              prompt, greedy continuation, margins, RoPE tables
                              (type, attention_scaling, inv_freq), versions...

and <out>/README.md describing the cases.

Weights: torch.manual_seed(seed) per case; every parameter is random (norm
weights too), rounded to bfloat16, written with safetensors.torch.save_file
(tied models get no lm_head.weight tensor).

References: the model is loaded back FROM THE WRITTEN DIRECTORY with
Qwen3ForCausalLM.from_pretrained(dir, dtype=torch.float64,
attn_implementation="eager") on CPU; every loaded parameter is compared with
the tensor written.  Greedy decoding of N_GEN tokens is done step by step
(full forward each step, argmax of the last row); then one forward over
prompt+greedy gives logits.f32, and the script asserts that row
len(prompt)-1+i has argmax greedy[i].  The prompt is drawn from a per-case
seed; if some greedy step has a top1-top2 gap below MIN_MARGIN, the next prompt
seed is tried (reference.json records prompt_attempt), so greedy tests are not
decided by rounding.

Note: HF's "float64" Qwen3 forward still does some steps in float32 (RMSNorm
statistics, the softmax of eager attention, the RoPE cos/sin tables), so the
float64 reference is "fp32-accurate", not fp64-accurate.

How to run (needs torch, transformers >= 5, safetensors; CPU is enough):

    python3 tools/gen_qwen3_fixtures.py --out DIR

The fixtures in tests/fixtures/qwen3/ were made with transformers 5.17.0 and
torch 2.11.0 (versions are recorded in each reference.json).
"""

import argparse
import json
import math
import os
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import safetensors  # noqa: E402
from safetensors.torch import save_file, load_file  # noqa: E402
import transformers  # noqa: E402
from transformers import Qwen3Config, Qwen3ForCausalLM  # noqa: E402

N_GEN = 8
MIN_MARGIN = 0.05
MAX_PROMPT_ATTEMPTS = 200

CASES = [
    dict(
        name="gqa-tied",
        style="released",
        seed=1001,
        vocab=512, hidden=64, heads=4, kv_heads=2, head_dim=32, inter=96, layers=2,
        tied=True, rope_theta=10000, rope_scaling=None, max_pos=4096,
        shards=1, prompt_len=24,
        note="GQA 4q/2kv, head_dim 32 != hidden/heads (16), tied (no lm_head tensor), default RoPE",
    ),
    dict(
        name="mqa-untied-sharded",
        style="v5",
        seed=2002,
        vocab=384, hidden=48, heads=6, kv_heads=1, head_dim=16, inter=80, layers=3,
        tied=False, rope_theta=1000000.0, rope_scaling=None, max_pos=2048,
        shards=3, prompt_len=20,
        note="MQA 6q/1kv, untied, rope_theta 1e6, 3 safetensors shards + index, v5 config",
    ),
    dict(
        name="yarn-released",
        style="released",
        seed=3003,
        vocab=512, hidden=64, heads=4, kv_heads=2, head_dim=16, inter=96, layers=2,
        tied=True, rope_theta=10000,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
        max_pos=64, shards=1, prompt_len=40,
        note="YaRN via released-style rope_scaling {rope_type: yarn}, factor 4, original 16, tied",
    ),
    dict(
        name="yarn-type-key",
        style="released",
        seed=4004,
        vocab=416, hidden=32, heads=2, kv_heads=1, head_dim=32, inter=64, layers=2,
        tied=False, rope_theta=10000,
        rope_scaling={"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32,
                      "beta_fast": 16, "beta_slow": 2},
        max_pos=64, shards=1, prompt_len=48,
        note="YaRN via old key 'type' (DeepSeek style), factor 2, original 32, beta_fast 16, beta_slow 2, untied",
    ),
    dict(
        name="yarn-v5",
        style="v5",
        seed=5005,
        vocab=448, hidden=96, heads=3, kv_heads=3, head_dim=32, inter=128, layers=2,
        tied=False, rope_theta=10000.0,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
        max_pos=64, shards=1, prompt_len=36,
        note="YaRN in v5 rope_parameters, factor 4, original 16; MHA (3q/3kv, n_rep 1), untied",
    ),
]


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------------------------
# names, shapes, random values


def expected_tensors(c):
    """(name, shape, kind) in HF module order."""
    V, H, nH, nKV, d, I = c["vocab"], c["hidden"], c["heads"], c["kv_heads"], c["head_dim"], c["inter"]
    out = [("model.embed_tokens.weight", (V, H), "embed")]
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        out += [
            (p + "self_attn.q_proj.weight", (nH * d, H), "in_proj"),
            (p + "self_attn.k_proj.weight", (nKV * d, H), "in_proj"),
            (p + "self_attn.v_proj.weight", (nKV * d, H), "in_proj"),
            (p + "self_attn.o_proj.weight", (H, nH * d), "out_proj"),
            (p + "self_attn.q_norm.weight", (d,), "qk_norm"),
            (p + "self_attn.k_norm.weight", (d,), "qk_norm"),
            (p + "mlp.gate_proj.weight", (I, H), "in_proj"),
            (p + "mlp.up_proj.weight", (I, H), "in_proj"),
            (p + "mlp.down_proj.weight", (H, I), "out_proj"),
            (p + "input_layernorm.weight", (H,), "norm"),
            (p + "post_attention_layernorm.weight", (H,), "norm"),
        ]
    out.append(("model.norm.weight", (H,), "norm"))
    if not c["tied"]:
        out.append(("lm_head.weight", (V, H), "lm_head"))
    return out


def make_weights(c):
    """Random bf16 tensors. Scales: inputs to every projection have RMS ~1 (pre-norm), so
    in-projections use std 1/sqrt(fan_in); out-projections 0.5/sqrt(fan_in) so that the
    residual stream keeps some token identity; lm_head (or the tied embedding) 2/sqrt(H) so
    logits have std ~2; untied embeddings std 0.5; norm weights U(0.5,1.5); q/k-norm weights
    U(0.6,1.8) so attention scores have std ~1.5 (visibly non-uniform attention)."""
    torch.manual_seed(c["seed"])
    g = torch.Generator().manual_seed(c["seed"])
    H = c["hidden"]
    tensors = {}
    for name, shape, kind in expected_tensors(c):
        if kind == "embed":
            std = 2.0 / math.sqrt(H) if c["tied"] else 0.5
            t = torch.randn(shape, generator=g) * std
        elif kind == "lm_head":
            t = torch.randn(shape, generator=g) * (2.0 / math.sqrt(H))
        elif kind == "in_proj":
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1])
        elif kind == "out_proj":
            t = torch.randn(shape, generator=g) * (0.5 / math.sqrt(shape[1]))
        elif kind == "norm":
            t = 0.5 + torch.rand(shape, generator=g)
        elif kind == "qk_norm":
            t = 0.6 + 1.2 * torch.rand(shape, generator=g)
        else:
            raise AssertionError(kind)
        tensors[name] = t.to(torch.bfloat16).contiguous()
    return tensors


# --------------------------------------------------------------------------------------------
# config writers


def released_config(c):
    L = c["layers"]
    cfg = {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": c["vocab"] - 2,
        "eos_token_id": c["vocab"] - 1,
        "head_dim": c["head_dim"],
        "hidden_act": "silu",
        "hidden_size": c["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": c["inter"],
        "max_position_embeddings": c["max_pos"],
        "max_window_layers": L,
        "model_type": "qwen3",
        "num_attention_heads": c["heads"],
        "num_hidden_layers": L,
        "num_key_value_heads": c["kv_heads"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": c["rope_scaling"],
        "rope_theta": c["rope_theta"],
        "sliding_window": None,
        "tie_word_embeddings": c["tied"],
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": c["vocab"],
    }
    return cfg


def write_config(c, d):
    if c["style"] == "released":
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(released_config(c), indent=2, sort_keys=True) + "\n")
    else:
        rope = {"rope_type": "default", "rope_theta": float(c["rope_theta"])}
        if c["rope_scaling"]:
            rope = dict(c["rope_scaling"])
            rope["rope_theta"] = float(c["rope_theta"])
        kw = dict(
            vocab_size=c["vocab"],
            hidden_size=c["hidden"],
            intermediate_size=c["inter"],
            num_hidden_layers=c["layers"],
            num_attention_heads=c["heads"],
            num_key_value_heads=c["kv_heads"],
            head_dim=c["head_dim"],
            hidden_act="silu",
            max_position_embeddings=c["max_pos"],
            rms_norm_eps=1e-6,
            tie_word_embeddings=c["tied"],
            rope_parameters=rope,
            attention_bias=False,
            use_sliding_window=False,
            max_window_layers=c["layers"],
            bos_token_id=c["vocab"] - 2,
            eos_token_id=c["vocab"] - 1,
            architectures=["Qwen3ForCausalLM"],
        )
        try:
            cfg = Qwen3Config(dtype="bfloat16", **kw)
        except Exception as e:  # pragma: no cover - older/newer API
            log(f"  [{c['name']}] Qwen3Config(dtype=...) failed ({e!r}); setting attribute instead")
            cfg = Qwen3Config(**kw)
            cfg.dtype = torch.bfloat16
        cfg.save_pretrained(d)
    with open(os.path.join(d, "config.json")) as f:
        text = f.read()
    return text


# --------------------------------------------------------------------------------------------
# safetensors writers


def write_weights(c, d, tensors):
    """Returns {filename: bytes}."""
    order = [n for n, _, _ in expected_tensors(c)]
    meta = {"format": "pt"}
    if c["shards"] == 1:
        fn = "model.safetensors"
        save_file(tensors, os.path.join(d, fn), metadata=meta)
        return {fn: os.path.getsize(os.path.join(d, fn))}, {n: fn for n in order}
    k = c["shards"]
    nbytes = {n: tensors[n].numel() * tensors[n].element_size() for n in order}
    total = sum(nbytes.values())
    groups = [[] for _ in range(k)]
    cum = 0
    for n in order:
        s = min(k - 1, (cum * k) // total)
        groups[s].append(n)
        cum += nbytes[n]
    assert all(groups), "empty shard"
    weight_map = {}
    sizes = {}
    for i, names in enumerate(groups):
        fn = f"model-{i + 1:05d}-of-{k:05d}.safetensors"
        save_file({n: tensors[n] for n in names}, os.path.join(d, fn), metadata=meta)
        sizes[fn] = os.path.getsize(os.path.join(d, fn))
        for n in names:
            weight_map[n] = fn
    # transformers 4.5x wrote {"total_size"} only (the released Qwen3 index files); 5.x also writes
    # "total_parameters" (seen from 5.17.0's own save_pretrained). Follow the config style.
    metadata = {"total_size": total}
    if c["style"] == "v5":
        metadata["total_parameters"] = sum(tensors[n].numel() for n in order)
    index = {"metadata": metadata, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    sizes["model.safetensors.index.json"] = os.path.getsize(os.path.join(d, "model.safetensors.index.json"))
    return sizes, weight_map


# --------------------------------------------------------------------------------------------
# RoPE check (independent re-computation of the spec formulas, double precision)


def expected_inv_freq(c):
    d = c["head_dim"]
    base = float(c["rope_theta"])
    half = d // 2
    pos = [base ** ((2.0 * i) / d) for i in range(half)]
    rs = c["rope_scaling"]
    if not rs:
        return [1.0 / p for p in pos], 1.0
    s = float(rs["factor"])
    L = float(rs["original_max_position_embeddings"])
    bf = rs.get("beta_fast") or 32
    bs = rs.get("beta_slow") or 1

    def corr(r):
        return d * math.log(L / (r * 2 * math.pi)) / (2 * math.log(base))

    low, high = math.floor(corr(bf)), math.ceil(corr(bs))
    low, high = max(low, 0), min(high, d - 1)
    if low == high:
        high += 0.001
    inv = []
    for i in range(half):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        ef = 1.0 - ramp
        inv.append((1.0 / (s * pos[i])) * (1.0 - ef) + (1.0 / pos[i]) * ef)
    return inv, 0.1 * math.log(s) + 1.0


# --------------------------------------------------------------------------------------------


def load_ref_model(d, dtype):
    try:
        model, info = Qwen3ForCausalLM.from_pretrained(
            d, dtype=dtype, attn_implementation="eager", output_loading_info=True
        )
    except TypeError as e:  # pragma: no cover - API drift
        log(f"  from_pretrained(output_loading_info=True) failed ({e!r}); retrying without")
        model = Qwen3ForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="eager")
        info = {}
    model.eval()
    return model, info


@torch.no_grad()
def forward_logits(model, ids):
    out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    return out.logits[0].to(torch.float64)


@torch.no_grad()
def greedy(model, prompt, n):
    ids = list(prompt)
    last_rows = []
    for _ in range(n):
        row = forward_logits(model, ids)[-1]
        last_rows.append(row)
        ids.append(int(torch.argmax(row).item()))
    return ids[len(prompt):], last_rows


def margins_of(logits, P, gen):
    m = []
    for i in range(len(gen)):
        row = logits[P - 1 + i]
        top = torch.topk(row, 2).values
        m.append(float(top[0] - top[1]))
    return m


def write_f32(path, t):
    arr = t.to(torch.float32).contiguous().cpu().numpy().astype("<f4")
    with open(path, "wb") as f:
        f.write(arr.tobytes())


@torch.no_grad()
def run_case(c, out):
    name = c["name"]
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    log(f"\n=== case {name} ({c['style']} config) ===")

    # 1. config
    cfg_text = write_config(c, d)
    log(f"  config.json as written:\n{cfg_text}")
    cfg = Qwen3Config.from_pretrained(d)
    log(f"  parsed: rope_parameters={getattr(cfg, 'rope_parameters', None)!r} "
        f"head_dim={cfg.head_dim} tie={cfg.tie_word_embeddings} layer_types={getattr(cfg, 'layer_types', None)}")

    # 2. build the HF model as a name/shape oracle, then random weights
    torch.manual_seed(c["seed"])
    hf_model = Qwen3ForCausalLM(cfg)
    hf_sd = {k: tuple(v.shape) for k, v in hf_model.named_parameters(remove_duplicate=False)}
    del hf_model
    exp = {n: tuple(s) for n, s, _ in expected_tensors(c)}
    hf_names = set(hf_sd)
    if c["tied"]:
        hf_names.discard("lm_head.weight")
    if hf_names != set(exp):
        raise AssertionError(f"name mismatch: only HF {sorted(hf_names - set(exp))}, only ours {sorted(set(exp) - hf_names)}")
    for n in exp:
        if hf_sd[n] != exp[n]:
            raise AssertionError(f"shape mismatch {n}: HF {hf_sd[n]} ours {exp[n]}")
    tensors = make_weights(c)
    sizes, weight_map = write_weights(c, d, tensors)
    if c["shards"] > 1:
        by_layer = {}
        for n, fn in weight_map.items():
            if n.startswith("model.layers."):
                by_layer.setdefault(int(n.split(".")[2]), set()).add(fn)
        split = [l for l, fs in sorted(by_layer.items()) if len(fs) > 1]
        log(f"  shards: " + ", ".join(f"{fn}: {sum(1 for v in weight_map.values() if v == fn)} tensors" for fn in sorted(set(weight_map.values())))
            + f"; layers spanning >1 shard: {split}")
    # re-read what was written (sanity: names, dtypes)
    back = {}
    for fn in sorted(set(weight_map.values())):
        back.update(load_file(os.path.join(d, fn)))
    assert set(back) == set(exp), "written names differ"
    assert all(v.dtype == torch.bfloat16 for v in back.values())

    # 3. load back with transformers, float64, eager
    model, info = load_ref_model(d, torch.float64)
    log(f"  loading info: { {k: (list(v) if isinstance(v, (set, list, tuple)) else v) for k, v in dict(info).items()} }")
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        v = info.get(k) or []
        v = [x for x in v if not (c["tied"] and k == "missing_keys" and "lm_head" in str(x))]
        if v:
            raise AssertionError(f"from_pretrained {k}: {v}")
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    msd = model.state_dict()
    for n, t in tensors.items():
        got = msd[n]
        assert got.dtype == torch.float64, (n, got.dtype)
        if not torch.equal(got, t.to(torch.float64)):
            raise AssertionError(f"loaded parameter differs from written: {n}")
    lm = model.lm_head.weight.detach()
    ref_lm = tensors["model.embed_tokens.weight"] if c["tied"] else tensors["lm_head.weight"]
    assert torch.equal(lm, ref_lm.to(torch.float64)), "lm_head not as expected (tying?)"
    log("  all parameters loaded back bit-exactly (as float64); lm_head "
        + ("== embed_tokens (tied)" if c["tied"] else "== lm_head.weight"))

    # RoPE as transformers built it
    rot = model.model.rotary_emb
    rope_type = getattr(rot, "rope_type", None) or (getattr(model.config, "rope_parameters", None) or {}).get("rope_type")
    att_scale = float(getattr(rot, "attention_scaling", float("nan")))
    inv = rot.inv_freq.detach().cpu()
    inv_list = [float(x) for x in inv.to(torch.float64).tolist()]
    exp_inv, exp_att = expected_inv_freq(c)
    inv_rel = max(abs(a - b) / abs(b) for a, b in zip(inv_list, exp_inv))
    log(f"  rope: type={rope_type} attention_scaling={att_scale!r} (spec formula {exp_att!r}) "
        f"inv_freq dtype={inv.dtype} max rel diff vs spec formula={inv_rel:.3g}")
    log(f"  inv_freq={inv_list}")
    # Problems here are flagged (and recorded in reference.json) rather than fatal, so that one
    # device run always yields files to look at.
    want_type = "yarn" if c["rope_scaling"] else "default"
    rope_problems = []
    if rope_type != want_type:
        rope_problems.append(f"rope type {rope_type}, expected {want_type}")
    if want_type == "yarn" and not (abs(att_scale - 1.0) > 1e-6):
        rope_problems.append("yarn but attention_scaling == 1")
    if len(inv_list) != c["head_dim"] // 2 or inv_rel > 1e-5 or abs(att_scale - exp_att) > 1e-9:
        rope_problems.append(f"RoPE tables differ from the spec formula (inv rel {inv_rel:.3g}, att {att_scale} vs {exp_att})")
    for pr in rope_problems:
        log(f"  WARNING (rope): {pr}")

    # 4. prompt, greedy, full forward
    V, P = c["vocab"], c["prompt_len"]
    best = None
    for attempt in range(MAX_PROMPT_ATTEMPTS):
        gp = torch.Generator().manual_seed(c["seed"] * 1000 + attempt)
        prompt = torch.randint(0, V, (P,), generator=gp).tolist()
        gen, step_rows = greedy(model, prompt, N_GEN)
        full = prompt + gen
        logits = forward_logits(model, full)
        assert tuple(logits.shape) == (P + N_GEN, V), logits.shape
        for i in range(N_GEN):
            a = int(torch.argmax(logits[P - 1 + i]).item())
            if a != gen[i]:
                raise AssertionError(f"step {i}: full-forward argmax {a} != greedy {gen[i]}")
        margins = margins_of(logits, P, gen)
        step_diff = max(float((logits[P - 1 + i] - step_rows[i]).abs().max()) for i in range(N_GEN))
        cand = (min(margins), attempt, prompt, gen, logits, margins, step_diff)
        if best is None or cand[0] > best[0]:
            best = cand
        if min(margins) >= MIN_MARGIN:
            break
    min_margin, attempt, prompt, gen, logits, margins, step_diff = best
    if min_margin < MIN_MARGIN:
        log(f"  WARNING: no prompt with min margin >= {MIN_MARGIN}; using best {min_margin}")
    max_abs = float(logits.abs().max())
    log(f"  prompt attempt {attempt}: prompt={prompt}")
    log(f"  greedy={gen} margins={[round(m, 4) for m in margins]}")
    log(f"  max|logit|={max_abs:.4f} logit std={float(logits.std()):.4f} "
        f"step-vs-full max|diff|={step_diff:.3g}")
    if not (1.0 < max_abs < 30.0):
        log(f"  WARNING: max |logit| {max_abs} outside the intended range")

    # attention sharpness (diagnostic)
    attn_stats = None
    try:
        o = model(input_ids=torch.tensor([prompt + gen]), use_cache=False, output_attentions=True)
        attn_stats = []
        for l, a in enumerate(o.attentions):
            a = a[0].to(torch.float64)  # [nH, T, T]
            T = a.shape[-1]
            rows = torch.arange(4, T)
            mx = a[:, rows, :].max(-1).values.mean().item()
            unif = float((1.0 / (rows + 1).to(torch.float64)).mean())
            attn_stats.append({"layer": l, "mean_max_prob": mx, "uniform_mean_max_prob": unif})
        log("  attention mean max-prob per layer (uniform would be %.3f): %s"
            % (attn_stats[0]["uniform_mean_max_prob"], [round(s["mean_max_prob"], 3) for s in attn_stats]))
    except Exception as e:
        log(f"  (attention statistics unavailable: {e!r})")

    write_f32(os.path.join(d, "logits.f32"), logits)

    # fp32 reference of the same rows
    m32, _ = load_ref_model(d, torch.float32)
    l32 = forward_logits(m32, prompt + gen)
    diff32 = float((l32 - logits).abs().max())
    g32 = [int(torch.argmax(l32[P - 1 + i]).item()) for i in range(N_GEN)]
    log(f"  fp32 model: max|logits32 - logits64|={diff32:.3g}; greedy argmax agrees: {g32 == gen}")
    write_f32(os.path.join(d, "logits_fp32.f32"), l32)
    del m32

    ref = {
        "case": name,
        "note": c["note"],
        "config_style": c["style"],
        "seed": c["seed"],
        "prompt_seed": c["seed"] * 1000 + attempt,
        "prompt_attempt": attempt,
        "prompt": prompt,
        "greedy": gen,
        "n_prompt": P,
        "n_gen": N_GEN,
        "n_vocab": V,
        "n_rows": P + N_GEN,
        "logits_file": "logits.f32",
        "logits_layout": "float32 little-endian, row-major [n_rows][n_vocab]; row r = logits after token r of prompt+greedy",
        "logits_fp32_file": "logits_fp32.f32",
        "fp32_vs_fp64_max_abs_diff": diff32,
        "fp32_greedy_agrees": g32 == gen,
        "margins": margins,
        "min_margin": min(margins),
        "max_abs_logit": max_abs,
        "step_vs_full_max_abs_diff": step_diff,
        "shapes": {k: c[k] for k in ("vocab", "hidden", "heads", "kv_heads", "head_dim", "inter", "layers")},
        "tie_word_embeddings": c["tied"],
        "weight_files": sorted(set(weight_map.values())),
        "rope": {
            "type": rope_type,
            "rope_theta": float(c["rope_theta"]),
            "scaling": c["rope_scaling"],
            "attention_scaling": att_scale,
            "inv_freq": inv_list,
            "inv_freq_dtype": str(inv.dtype).replace("torch.", ""),
            "spec_formula_max_rel_diff": inv_rel,
            "problems": rope_problems,
        },
        "attention_stats": attn_stats,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "safetensors_version": getattr(safetensors, "__version__", None),
        "dtype": "float64",
        "attn_implementation": "eager",
        "device": "cpu",
    }
    with open(os.path.join(d, "reference.json"), "w") as f:
        f.write(json.dumps(ref, indent=1) + "\n")

    files = {fn: os.path.getsize(os.path.join(d, fn)) for fn in sorted(os.listdir(d))}
    log(f"  files: {files} total={sum(files.values())} bytes; {time.time() - t0:.1f}s")
    return {"case": name, "style": c["style"], "max_abs_logit": max_abs, "min_margin": min(margins),
            "files": files, "note": c["note"], "c": c, "diff32": diff32}


def probe_hf_save(out_scratch):
    """Diagnostics only (not part of the fixtures): what does transformers' own
    save_pretrained write for a tied model and for a sharded one?"""
    try:
        import glob
        for tied, shard in ((True, None), (False, "60KB")):
            cfg = Qwen3Config(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                              tie_word_embeddings=tied, max_window_layers=2,
                              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
            m = Qwen3ForCausalLM(cfg).to(torch.bfloat16)
            dd = os.path.join(out_scratch, f"probe_tied{int(tied)}")
            kw = {"max_shard_size": shard} if shard else {}
            m.save_pretrained(dd, **kw)
            log(f"\n[probe] model.save_pretrained(tied={tied}, {kw}): files {sorted(os.listdir(dd))}")
            for fn in sorted(glob.glob(os.path.join(dd, "*.safetensors"))):
                log(f"[probe]   {os.path.basename(fn)}: {sorted(load_file(fn).keys())[:3]}... "
                    f"lm_head present: {'lm_head.weight' in load_file(fn)}")
            idx = os.path.join(dd, "model.safetensors.index.json")
            if os.path.exists(idx):
                j = json.load(open(idx))
                log(f"[probe]   index metadata: {j.get('metadata')}; top-level keys {sorted(j)}")
            log(f"[probe]   config.json: {open(os.path.join(dd, 'config.json')).read()}")
    except Exception:
        log("[probe] failed:\n" + traceback.format_exc())


def write_readme(out, results):
    lines = [
        "# Qwen3 dense fixtures (tiny random models + HF reference logits)",
        "",
        "Generated by `tools/gen_qwen3_fixtures.py` (run: `python3 tools/gen_qwen3_fixtures.py --out DIR`) "
        f"with transformers {transformers.__version__}, torch {torch.__version__}, on CPU.",
        "",
        "Each case directory holds `config.json`, bf16 safetensors weights with the released HF tensor names, "
        "`logits.f32` (float32 little-endian, row-major `[n_rows][n_vocab]`, row r = logits after token r of "
        "prompt+greedy; computed by `Qwen3ForCausalLM.from_pretrained(dir, dtype=torch.float64, "
        "attn_implementation=\"eager\")` and cast to float32), `logits_fp32.f32` (same rows from the model loaded "
        "with dtype=float32) and `reference.json` (prompt, greedy continuation of "
        f"{N_GEN} tokens, per-step top1-top2 margins, RoPE inv_freq / attention_scaling as transformers built "
        "them, versions). Row `len(prompt)-1+i` has argmax `greedy[i]`.",
        "",
        "All parameters are random (norm weights in [0.5,1.5], q/k-norm weights in [0.6,1.8]) and rounded to "
        "bf16. The float64 HF forward still computes RMSNorm statistics, attention softmax and RoPE cos/sin in "
        "float32.",
        "",
        "| case | config style | V | H | heads/kv | head_dim | I | layers | tied | RoPE | prompt | max abs logit | min margin | files |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r["c"]
        rope = "default theta %g" % c["rope_theta"]
        if c["rope_scaling"]:
            rope = "yarn %s theta %g" % (json.dumps(c["rope_scaling"], sort_keys=True), c["rope_theta"])
        wf = [f for f in r["files"] if f.endswith(".safetensors") or f.endswith(".json") and f != "reference.json"]
        lines.append(
            f"| `{r['case']}` | {c['style']} | {c['vocab']} | {c['hidden']} | {c['heads']}/{c['kv_heads']} | "
            f"{c['head_dim']} | {c['inter']} | {c['layers']} | {c['tied']} | {rope} | {c['prompt_len']} | "
            f"{r['max_abs_logit']:.3f} | {r['min_margin']:.4f} | {', '.join(wf)} |")
    lines += ["", "Notes per case:", ""]
    for r in results:
        lines.append(f"* `{r['case']}`: {r['note']}")
    lines.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases", default="", help="comma-separated subset")
    ap.add_argument("--probe-dir", default="", help="where to run the save_pretrained probe (default: <out>/../qwen3_probe)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__} "
        f"safetensors {getattr(safetensors, '__version__', '?')}")
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    want = [x for x in args.cases.split(",") if x]
    results, failed = [], []
    for c in CASES:
        if want and c["name"] not in want:
            continue
        try:
            results.append(run_case(c, out))
        except Exception:
            log(f"CASE {c['name']} FAILED:\n" + traceback.format_exc())
            failed.append(c["name"])
    write_readme(out, results)
    probe_hf_save(args.probe_dir or os.path.join(os.path.dirname(out), "qwen3_probe"))
    log("\n=== summary ===")
    tot = 0
    for r in results:
        s = sum(r["files"].values())
        tot += s
        log(f"{r['case']:22s} {r['style']:8s} max|logit|={r['max_abs_logit']:.3f} min margin={r['min_margin']:.4f} "
            f"fp32-vs-fp64={r['diff32']:.2g} bytes={s} files={r['files']}")
    log(f"total bytes: {tot}")
    if failed:
        log(f"FAILED cases: {failed}")
        sys.exit(1)


if __name__ == "__main__":
    main()
