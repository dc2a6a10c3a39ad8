import base64
import pickle

# ruleid: obfusc-high-entropy-literal
BLOB = "/qFzj2SMaPlvDCoq7KMwrnGSe9JEexCSsaZcvDpl5/9GXMOmUfgATa7ezsqWjOJ3r3PaMEAdAoRk+ekWvdwkuXNyZ8UU9HcSEKptah78MSNQfbG+kWLZcu1OaG2p/ehpMw6jj+MrOE9ofwdcY53S8ytzpIhZ1uy8If0ufowad69tojLVwjwv5/o4oRxVnnT2Y5K7YzBZQ/GP+jomkHF+8z88MCrnjf0YQdhLB+hJR0aURYm7"

# ruleid: obfusc-high-entropy-literal
SHELLCODE = bytes.fromhex("a3720ca583306f485b2d31b4d24d158e0d96c06b1dee47cc6042c8b28f39226d5067c912bd20c2c38d5cf0255de186ddef7695818e6697978abe21cc493441181f145b6b2904fe4df928811adf7262874a07c5fb82946ed4f8ee35dbf3bc25de7de9ab81c4cfad98cfb50dd31688")

# ruleid: obfusc-high-entropy-literal
PATCH = ("/qFzj2SMaPlvDCoq7KMwrnGSe9JEexCSsaZcvDpl5/9GXMOmUfgATa7ezsqWjOJ3r3PaMEAdAoRk+ekWvdwkuXNyZ8UU9HcSEKptah78MSNQfbG+kWLZcu1O"
         "aG2p/ehpMw6jj+MrOE9ofwdcY53S8ytzpIhZ1uy8If0ufowad69tojLVwjwv5/o4oRxVnnT2Y5K7YzBZQ/GP+jomkHF+8z88MCrnjf0YQdhLB+hJR0aURYm7")

# ruleid: obfusc-high-entropy-literal
STATE = b"/qFzj2SMaPlvDCoq7KMwrnGSe9JEexCSsaZcvDpl5/9GXMOmUfgATa7ezsqWjOJ3r3PaMEAdAoRk+ekWvdwkuXNyZ8UU9HcSEKptah78MSNQfbG+kWLZcu1OaG2p/ehpMw6jj+MrOE9ofwdcY53S8ytzpIhZ1uy8If0ufowad69tojLVwjwv5/o4oRxVnnT2Y5K7YzBZQ/GP+jomkHF+8z88MCrnjf0YQdhLB+hJR0aURYm7"

# ok: obfusc-high-entropy-literal
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
# ok: obfusc-high-entropy-literal
MODEL_ID = "meta-llama/Meta-Llama-3-8B-Instruct"
# ok: obfusc-high-entropy-literal
DOC = """This trainer supports gradient accumulation, mixed precision (bf16 and fp16), FSDP and DeepSpeed ZeRO stage 2 and 3, with cosine or linear warmup schedules, checkpoint rotation and resumption from the latest checkpoint in the output directory."""
# ok: obfusc-high-entropy-literal
URL = "https://huggingface.co/datasets/allenai/c4/resolve/main/en/c4-train.00000-of-01024.json.gz?download=true&token_type=read&revision=1588ec454efa1a09f29cd18ddd04fe05fc8653a2&expires=never"
# ok: obfusc-high-entropy-literal
SEPARATOR = "=" * 300
