"""Where one invocation reads and writes: the config file, the prompts folder, the output folder.

Every command takes all three (``--config``, ``--prompts``, ``--out``). The
config and the prompt catalogue are read once per workspace and kept: a
whole ``gallery run`` (generate, render, build) sees one version of each,
even if a file changes under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gallery.catalogue.config import Config, load_config
from gallery.catalogue.prompts import Prompt, load_catalogue


@dataclass
class Workspace:
    config_path: Path
    prompts_dir: Path
    out: Path
    _config: Config | None = field(default=None, repr=False, compare=False)
    _catalogue: dict[str, Prompt] | None = field(default=None, repr=False, compare=False)

    def load_config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def load_prompts(self) -> dict[str, Prompt]:
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.prompts_dir)
        return self._catalogue
