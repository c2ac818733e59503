"""TEE backends behind one interface (``base.TeeBackend``): software, Intel TDX, Intel SGX (Gramine)."""

from __future__ import annotations
