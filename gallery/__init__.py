"""gallery: reproduce and compare one-shot code-generation demos.

Each pipeline stage is a module callable without the CLI (see the README):
config, prompts, generate, extract, store, render, libs, checks, site, compare.
"""

__version__ = "0.1.0"
