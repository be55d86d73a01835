"""minclip: OpenAI's CLIP rebuilt from scratch in PyTorch (placeholder, filled in by the tokenizer work)."""
