"""Writes a small random LoRA adapter in GGUF for a base GGUF model, as finetune/ will.

Random, not trained: it exists to prove that the server loads an adapter and that the adapter
changes what the model says.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def make_lora(base: Path, out: Path, *, rank: int = 8, alpha: float = 16.0, seed: int = 0) -> Path:
    reader = gguf.GGUFReader(str(base))
    arch_field = reader.fields["general.architecture"]
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for tensor in reader.tensors:
        if not tensor.name.endswith(("attn_q.weight", "attn_v.weight")):
            continue
        n_in, n_out = int(tensor.shape[0]), int(tensor.shape[1])  # GGUF order: ne[0] first
        a = rng.normal(0, 0.5, size=(rank, n_in)).astype(np.float32)
        b = rng.normal(0, 0.5, size=(n_out, rank)).astype(np.float32)
        writer.add_tensor(f"{tensor.name}.lora_a", a)
        writer.add_tensor(f"{tensor.name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
