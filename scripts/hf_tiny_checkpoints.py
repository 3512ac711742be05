"""Tiny randomly initialised MoE checkpoints saved by transformers' own save_pretrained (sharded, with an index):
the reference for the tensor names and config fields the checkpoint reader expects (docs/checkpoints.md).

    python3 scripts/hf_tiny_checkpoints.py OUT_DIR      writes OUT_DIR/<model_type>/ and OUT_DIR/manifest.json

manifest.json: per model type, config.json as saved, the index's weight_map, and each shard's header (dtype, shape).
Nothing is downloaded: the models are built from configs. Run where transformers is installed (the GPU machine).
"""

import json
import os
import struct
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

SMALL = dict(vocab_size=64, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=64)
CONFIGS = {
    "qwen3_moe": ("Qwen3MoeConfig", dict(SMALL, intermediate_size=256, moe_intermediate_size=128, num_key_value_heads=1, head_dim=64,
                                         num_experts=4, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[0])),
    "mixtral": ("MixtralConfig", dict(SMALL, intermediate_size=128, num_key_value_heads=1, num_local_experts=4, num_experts_per_tok=2)),
    "deepseek_v3": ("DeepseekV3Config", dict(SMALL, intermediate_size=256, moe_intermediate_size=128, num_key_value_heads=2, n_routed_experts=4,
                                             n_shared_experts=1, num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                                             q_lora_rank=64, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32)),
}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n))
    return {k: [v["dtype"], v["shape"]] for k, v in h.items() if k != "__metadata__"}


def main(out):
    manifest = {"transformers": transformers.__version__, "torch": torch.__version__, "models": {}}
    for model_type, (cls, kw) in CONFIGS.items():
        try:
            cfg = getattr(transformers, cls)(**kw)
            torch.manual_seed(0)
            try:
                model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
            except TypeError:
                model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)
            d = os.path.join(out, model_type)
            model.save_pretrained(d, max_shard_size="300KB")
            entry = {"config": json.load(open(os.path.join(d, "config.json"))), "files": {}}
            idx = os.path.join(d, "model.safetensors.index.json")
            if os.path.exists(idx):
                entry["weight_map"] = json.load(open(idx))["weight_map"]
            for f in sorted(os.listdir(d)):
                if f.endswith(".safetensors"):
                    entry["files"][f] = header(os.path.join(d, f))
            manifest["models"][model_type] = entry
            print("%s: %d files" % (model_type, len(entry["files"])))
        except Exception as e:  # one family failing must not hide the others
            manifest["models"][model_type] = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300])}
            print("%s failed: %s" % (model_type, e), file=sys.stderr)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
