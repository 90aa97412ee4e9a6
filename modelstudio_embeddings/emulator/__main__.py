"""``python -m modelstudio_embeddings.emulator``: the same as ``python -m modelstudio_emulator``."""

from modelstudio_emulator.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
