"""The offline speech engine (``NOVA_ENGINE=local``): VAD endpointing, Whisper speech-to-text, a
rule-based cloud assistant with tools, and Piper or espeak-ng speech, all from installed packages.

Nothing is downloaded: the Hugging Face hub is switched off before faster-whisper is imported, and
every model is loaded from a package's folder (or one the settings name).
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
