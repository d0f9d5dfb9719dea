"""Datasets, SFT/DPO training of LoRA adapters, GGUF export, model registry."""
