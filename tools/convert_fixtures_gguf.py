"""Convert owl's tiny safetensors fixtures to GGUF with llama.cpp's own converter (convert_hf_to_gguf.py),
for tests/model/test_gguf_converter.c. Needs torch and transformers (run it where they are installed, e.g.
the GPU machine) and a fetched llama.cpp: pass the directory holding convert_hf_to_gguf.py, gguf-py/ and
conversion/ with --llama-cpp (it is never committed). The fixtures have small random vocabularies and no
tokenizer, so each model instance's set_vocab is replaced by one that writes placeholder tokens (owl's
logit tests do not read them); everything else (tensor names, splits, repacking, keys) is the converter's.

    python3 tools/convert_fixtures_gguf.py --llama-cpp DIR --out OUTDIR
"""
import argparse
import importlib
import os
import sys
import types

FIXTURES = [  # (fixture directory under tests/fixtures, output name, outtypes)
    ("qwen3/gqa-tied", "qwen3-gqa-tied", ["f32", "bf16", "q8_0"]),
    # qwen3_moe: both fixtures have dense layers among the sparse ones (mlp_only_layers, decoder_sparse_step),
    # which llama.cpp's qwen3moe cannot map ("Can not map tensor 'model.layers.1.mlp.down_proj.weight'")
    ("gpt_oss/mxfp4-released", "gpt-oss-mxfp4", ["bf16"]),
    ("deepseek_v3/qlora-mtp", "deepseek-v3-qlora", ["bf16"]),
]


def placeholder_vocab(self):
    n = self.hparams["vocab_size"]
    self.gguf_writer.add_tokenizer_model("gpt2")
    self.gguf_writer.add_tokenizer_pre("default")
    self.gguf_writer.add_token_list([f"<t{i}>" for i in range(n)])
    self.gguf_writer.add_token_types([1] * n)
    self.gguf_writer.add_token_merges([])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.llama_cpp))
    sys.path.insert(1, os.path.join(os.path.abspath(args.llama_cpp), "gguf-py"))
    conv = importlib.import_module("convert_hf_to_gguf")
    base = importlib.import_module("conversion.base")
    original = base.TextModel.prepare_metadata

    def prepare_metadata(self, *a, **k):  # every model instance's set_vocab becomes the placeholder
        self.set_vocab = types.MethodType(placeholder_vocab, self)
        return original(self, *a, **k)

    base.TextModel.prepare_metadata = prepare_metadata
    os.makedirs(args.out, exist_ok=True)
    for rel, name, outtypes in FIXTURES:
        for t in outtypes:
            out = os.path.join(args.out, f"{name}-{t}.gguf")
            sys.argv = ["convert_hf_to_gguf.py", os.path.join(args.fixtures, rel), "--outfile", out, "--outtype", t]
            print("==", rel, t, flush=True)
            conv.main()
            print(out, os.path.getsize(out), flush=True)


if __name__ == "__main__":
    main()
